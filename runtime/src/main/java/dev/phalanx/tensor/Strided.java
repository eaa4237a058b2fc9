package dev.phalanx.tensor;

/**
 * Walking a strided tensor: where each element lives in its storage, and gathering or
 * scattering elements between strided layouts. The copies behind {@code contiguous()},
 * {@code copy_} and writes through views.
 */
public final class Strided {

    private Strided() { }

    /** Row-major strides of a shape. */
    static int[] contiguousStrides(int[] shape) {
        return Shapes.strides(shape);
    }

    /** True when the strides are row-major (dimensions of size 1 may have any stride, as in PyTorch). */
    public static boolean isContiguous(int[] shape, int[] strides) {
        int expected = 1;
        for (int d = shape.length - 1; d >= 0; d--) {
            if (shape[d] == 1) continue;
            if (strides[d] != expected) return shape[d] == 0 || hasZeroSize(shape);
            expected *= shape[d];
        }
        return true;
    }

    private static boolean hasZeroSize(int[] shape) {
        for (int s : shape) if (s == 0) return true;
        return false;
    }

    /** The storage index of every element, in row-major order. */
    public static int[] indices(int[] shape, int[] strides, int offset) {
        int n = Shapes.numel(shape);
        int[] out = new int[n];
        if (n == 0) return out;
        int rank = shape.length;
        if (rank == 0) {
            out[0] = offset;
            return out;
        }
        int last = rank - 1, lastSize = shape[last], lastStride = strides[last];
        int[] idx = new int[rank];
        int base = offset, o = 0;
        while (o < n) {
            for (int i = 0, p = base; i < lastSize; i++, p += lastStride) out[o++] = p;
            for (int d = last - 1; d >= 0; d--) { // odometer over the outer dimensions
                idx[d]++;
                base += strides[d];
                if (idx[d] < shape[d]) break;
                base -= strides[d] * shape[d];
                idx[d] = 0;
            }
        }
        return out;
    }

    /** A new array holding {@code src}'s elements at {@code idx}, in that order (same dtype). */
    static Object gather(HostStorage src, int[] idx) {
        int n = idx.length;
        switch (src.dtype()) {
            case FLOAT64: { double[] s = src.doubles(), d = new double[n]; for (int i = 0; i < n; i++) d[i] = s[idx[i]]; return d; }
            case FLOAT32: { float[] s = src.floats(), d = new float[n]; for (int i = 0; i < n; i++) d[i] = s[idx[i]]; return d; }
            case INT64: { long[] s = src.longs(), d = new long[n]; for (int i = 0; i < n; i++) d[i] = s[idx[i]]; return d; }
            case INT32: { int[] s = src.ints(), d = new int[n]; for (int i = 0; i < n; i++) d[i] = s[idx[i]]; return d; }
            case FLOAT16: case BFLOAT16: case INT16: { short[] s = src.shorts(), d = new short[n]; for (int i = 0; i < n; i++) d[i] = s[idx[i]]; return d; }
            default: { byte[] s = src.bytes(), d = new byte[n]; for (int i = 0; i < n; i++) d[i] = s[idx[i]]; return d; }
        }
    }

    /**
     * {@code dst[dstIdx[i]] = src[srcIdx[i]]} for every i, converting between dtypes as PyTorch's
     * {@code copy_} does.
     */
    static void scatter(HostStorage dst, int[] dstIdx, HostStorage src, int[] srcIdx) {
        int n = dstIdx.length;
        if (dst.dtype() == src.dtype()) {
            switch (dst.dtype()) {
                case FLOAT64: { double[] s = src.doubles(), d = dst.doubles(); for (int i = 0; i < n; i++) d[dstIdx[i]] = s[srcIdx[i]]; return; }
                case FLOAT32: { float[] s = src.floats(), d = dst.floats(); for (int i = 0; i < n; i++) d[dstIdx[i]] = s[srcIdx[i]]; return; }
                case INT64: { long[] s = src.longs(), d = dst.longs(); for (int i = 0; i < n; i++) d[dstIdx[i]] = s[srcIdx[i]]; return; }
                case INT32: { int[] s = src.ints(), d = dst.ints(); for (int i = 0; i < n; i++) d[dstIdx[i]] = s[srcIdx[i]]; return; }
                case FLOAT16: case BFLOAT16: case INT16: { short[] s = src.shorts(), d = dst.shorts(); for (int i = 0; i < n; i++) d[dstIdx[i]] = s[srcIdx[i]]; return; }
                default: { byte[] s = src.bytes(), d = dst.bytes(); for (int i = 0; i < n; i++) d[dstIdx[i]] = s[srcIdx[i]]; return; }
            }
        }
        boolean viaLong = !src.dtype().isFloatingPoint() && !dst.dtype().isFloatingPoint();
        if (viaLong) {
            for (int i = 0; i < n; i++) dst.setLong(dstIdx[i], src.getLong(srcIdx[i]));
        } else if (src.dtype().isFloatingPoint() && !dst.dtype().isFloatingPoint() && dst.dtype() != DType.BOOL) {
            for (int i = 0; i < n; i++) dst.setLong(dstIdx[i], truncate(src.getDouble(srcIdx[i]), dst.dtype()));
        } else {
            for (int i = 0; i < n; i++) dst.setDouble(dstIdx[i], src.getDouble(srcIdx[i]));
        }
    }

    /**
     * A float converted to an integer type: truncated toward zero. Narrow types go through
     * int32 first, which is what PyTorch's CPU cast does on x86 (300.7 to int8 gives 44).
     */
    static long truncate(double v, DType to) {
        if (to == DType.INT64) return (long) v;
        return (int) v;
    }
}
