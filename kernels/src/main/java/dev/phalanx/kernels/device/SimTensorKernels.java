package dev.phalanx.kernels.device;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;

/**
 * The simulated device's twins of dtypes.cu (conversion, the strided copy, comparisons, exact
 * integer sums) and of the max and min kernels of reductions.cu: the CUDA code's arithmetic in
 * the same order, reading and writing elements of any {@link ElementType} little-endian, as a GPU
 * keeps them. Part of {@link SimKernels#TWINS}.
 */
final class SimTensorKernels {

    private SimTensorKernels() { }

    static final Map<String, SimKernels.Twin> TWINS = Map.ofEntries(
            Map.entry("convert_dtype", (m, c, a) -> {
                ElementType from = ElementType.ofCode(a.int32(1)), to = ElementType.ofCode(a.int32(3));
                long n = a.int64(4);
                ByteBuffer src = wrap(m.rawBytes(a.buffer(0), n * from.bytes())), dst = ByteBuffer.allocate((int) (n * to.bytes())).order(ByteOrder.LITTLE_ENDIAN);
                for (long i = 0; i < n; i++) convert(src, from, i, dst, to, i);
                m.putRawBytes(a.buffer(2), dst.array());
            }),
            Map.entry("strided_copy", (m, c, a) -> {
                int ndim = a.int32(3), size = a.int32(4);
                long n = a.int64(5);
                int[] meta = m.ints(a.buffer(2), 3L * ndim);
                byte[] src = m.rawBytes(a.buffer(0), extent(meta, ndim, 1, n) * size), dst = m.rawBytes(a.buffer(1), extent(meta, ndim, 2, n) * size);
                for (long i = 0; i < n; i++) {
                    long rest = i, si = 0, di = 0;
                    for (int d = ndim - 1; d >= 0; d--) {
                        long k = rest % meta[d];
                        rest /= meta[d];
                        si += k * meta[ndim + d];
                        di += k * meta[2 * ndim + d];
                    }
                    System.arraycopy(src, (int) (si * size), dst, (int) (di * size), size);
                }
                m.putRawBytes(a.buffer(1), dst);
            }),
            Map.entry("compare_broadcast", (m, c, a) -> {
                ElementType ta = ElementType.ofCode(a.int32(1)), tb = ElementType.ofCode(a.int32(3));
                int ndim = a.int32(6), op = a.int32(7);
                boolean asDouble = a.int32(8) != 0;
                long n = a.int64(9);
                int[] meta = m.ints(a.buffer(5), 3L * ndim);
                ByteBuffer x = wrap(m.rawBytes(a.buffer(0), extent(meta, ndim, 1, n) * ta.bytes()));
                ByteBuffer y = wrap(m.rawBytes(a.buffer(2), extent(meta, ndim, 2, n) * tb.bytes()));
                byte[] out = new byte[(int) n];
                for (long i = 0; i < n; i++) {
                    long rest = i, ia = 0, ib = 0;
                    for (int d = ndim - 1; d >= 0; d--) {
                        long k = rest % meta[d];
                        rest /= meta[d];
                        ia += k * meta[ndim + d];
                        ib += k * meta[2 * ndim + d];
                    }
                    out[(int) i] = asDouble ? compareDoubles(op, getDouble(x, ta, ia), getDouble(y, tb, ib)) : compareLongs(op, getLong(x, ta, ia), getLong(y, tb, ib));
                }
                m.putRawBytes(a.buffer(4), out);
            }),
            Map.entry("compare_scalar", (m, c, a) -> {
                ElementType ta = ElementType.ofCode(a.int32(1));
                double k = a.float64(3);
                long kl = a.int64(4);
                int op = a.int32(5);
                boolean asDouble = a.int32(6) != 0;
                long n = a.int64(7);
                ByteBuffer x = wrap(m.rawBytes(a.buffer(0), n * ta.bytes()));
                byte[] out = new byte[(int) n];
                for (long i = 0; i < n; i++) out[(int) i] = asDouble ? compareDoubles(op, getDouble(x, ta, i), k) : compareLongs(op, getLong(x, ta, i), kl);
                m.putRawBytes(a.buffer(2), out);
            }),
            Map.entry("add_i64", (m, c, a) -> {
                long n = a.int64(2), k = a.int64(1);
                long[] x = m.longs(a.buffer(0), n);
                for (int i = 0; i < n; i++) x[i] += k;
                m.putLongs(a.buffer(0), x);
            }),
            Map.entry("sum_all_i64", (m, c, a) -> {
                checkOneBlock("sum_all_i64", c, LaunchConfig.INT_SUM_THREADS);
                ElementType t = ElementType.ofCode(a.int32(1));
                long n = a.int64(3);
                ByteBuffer x = wrap(m.rawBytes(a.buffer(0), n * t.bytes()));
                long s = 0; // two's complement sums wrap alike in any order: the block's tree gives these bits
                for (long i = 0; i < n; i++) s += getLong(x, t, i);
                m.putLongs(a.buffer(2), new long[] {s});
            }),
            Map.entry("sum_dim_i64", (m, c, a) -> {
                ElementType t = ElementType.ofCode(a.int32(1));
                int outer = a.int32(3), size = a.int32(4), inner = a.int32(5);
                ByteBuffer x = wrap(m.rawBytes(a.buffer(0), (long) outer * size * inner * t.bytes()));
                long[] out = new long[outer * inner];
                for (int j = 0; j < out.length; j++) {
                    long base = (long) (j / inner) * size * inner + j % inner, s = 0;
                    for (int k = 0; k < size; k++) s += getLong(x, t, base + (long) k * inner);
                    out[j] = s;
                }
                m.putLongs(a.buffer(2), out);
            }),
            Map.entry("extreme_dim", (m, c, a) -> {
                int outer = a.int32(3), size = a.int32(4), inner = a.int32(5);
                boolean min = a.int32(6) != 0;
                float[] x = m.floats(a.buffer(0), (long) outer * size * inner), values = new float[outer * inner];
                long[] indices = new long[values.length];
                for (int j = 0; j < values.length; j++) {
                    int base = (j / inner) * size * inner + j % inner, best = 0;
                    float bv = x[base];
                    for (int k = 1; k < size; k++) {
                        float v = x[base + k * inner];
                        if (beats(v, k, bv, best, min)) {
                            bv = v;
                            best = k;
                        }
                    }
                    values[j] = bv;
                    indices[j] = best;
                }
                m.put(a.buffer(1), values);
                m.putLongs(a.buffer(2), indices);
            }),
            Map.entry("extreme_all", (m, c, a) -> {
                int threads = LaunchConfig.EXTREME_THREADS;
                checkOneBlock("extreme_all", c, threads);
                long n = a.int64(3);
                boolean min = a.int32(4) != 0;
                float[] x = m.floats(a.buffer(0), n), sv = new float[threads];
                long[] si = new long[threads];
                for (int t = 0; t < threads; t++) { // each thread's strided scan, then the block's tree, as the kernel
                    float bv = 0f;
                    long bi = -1;
                    for (long i = t; i < n; i += threads) {
                        if (beats(x[(int) i], i, bv, bi, min)) {
                            bv = x[(int) i];
                            bi = i;
                        }
                    }
                    sv[t] = bv;
                    si[t] = bi;
                }
                for (int k = threads / 2; k > 0; k >>= 1) {
                    for (int t = 0; t < k; t++) {
                        if (si[t + k] >= 0 && beats(sv[t + k], si[t + k], sv[t], si[t], min)) {
                            sv[t] = sv[t + k];
                            si[t] = si[t + k];
                        }
                    }
                }
                m.put(a.buffer(1), new float[] {sv[0]});
                m.putLongs(a.buffer(2), new long[] {si[0]});
            }),
            Map.entry("pick_backward", (m, c, a) -> {
                int outer = a.int32(3), size = a.int32(4), inner = a.int32(5);
                float[] g = m.floats(a.buffer(0), (long) outer * inner), dx = new float[outer * size * inner];
                long[] idx = m.longs(a.buffer(1), (long) outer * inner);
                for (int i = 0; i < dx.length; i++) {
                    int o = i / (size * inner), k = (i / inner) % size, r = o * inner + i % inner;
                    dx[i] = idx[r] == k ? 0f + g[r] : 0f;
                }
                m.put(a.buffer(2), dx);
            }));

    private static ByteBuffer wrap(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The elements a strided operand spans (its largest offset + 1) for the strides at meta[which * ndim ...]; 0 when n is 0. */
    private static long extent(int[] meta, int ndim, int which, long n) {
        if (n == 0) return 0;
        long e = 1;
        for (int d = 0; d < ndim; d++) e += (long) (meta[d] - 1) * meta[which * ndim + d];
        return e;
    }

    private static void checkOneBlock(String kernel, LaunchConfig c, int threads) {
        if (c.gridX() * c.gridY() * c.gridZ() != 1 || c.blockX() != threads) {
            throw new IllegalArgumentException("kernel " + kernel + " must be launched as one block of " + threads + " threads, got " + c);
        }
    }

    /** reductions.cu's extreme_beats: NaN wins, then the larger (max) or smaller (min), then the lower index; bi < 0 is none. */
    static boolean beats(float v, long i, float bv, long bi, boolean min) {
        if (bi < 0) return true;
        boolean vn = Float.isNaN(v), bn = Float.isNaN(bv);
        if (vn || bn) return vn && (!bn || i < bi);
        if (v != bv) return min ? v < bv : v > bv;
        return i < bi;
    }

    // ---- dtypes.cu's element access: HostStorage's rules

    static double getDouble(ByteBuffer b, ElementType t, long i) {
        int at = (int) (i * t.bytes());
        return switch (t) {
            case F64 -> b.getDouble(at);
            case F32 -> b.getFloat(at);
            case F16 -> halfToFloat(b.getShort(at));
            case BF16 -> bfloat16ToFloat(b.getShort(at));
            case I64 -> b.getLong(at);
            case I32 -> b.getInt(at);
            case I16 -> b.getShort(at);
            case U8 -> b.get(at) & 0xff;
            case I8, BOOL -> b.get(at);
        };
    }

    static long getLong(ByteBuffer b, ElementType t, long i) {
        int at = (int) (i * t.bytes());
        return switch (t) {
            case I64 -> b.getLong(at);
            case I32 -> b.getInt(at);
            case I16 -> b.getShort(at);
            case U8 -> b.get(at) & 0xff;
            case I8, BOOL -> b.get(at);
            case F64, F32, F16, BF16 -> (long) getDouble(b, t, i);
        };
    }

    static void setLong(ByteBuffer b, ElementType t, long i, long v) {
        int at = (int) (i * t.bytes());
        switch (t) {
            case I64 -> b.putLong(at, v);
            case I32 -> b.putInt(at, (int) v);
            case I16 -> b.putShort(at, (short) v);
            case I8, U8 -> b.put(at, (byte) v);
            case BOOL -> b.put(at, (byte) (v != 0 ? 1 : 0));
            case F64 -> b.putDouble(at, v);
            case F32 -> b.putFloat(at, (float) (double) v);
            case F16 -> b.putShort(at, floatToHalf((float) (double) v));
            case BF16 -> b.putShort(at, floatToBfloat16((float) (double) v));
        }
    }

    static void setDouble(ByteBuffer b, ElementType t, long i, double v) {
        int at = (int) (i * t.bytes());
        switch (t) {
            case F64 -> b.putDouble(at, v);
            case F32 -> b.putFloat(at, (float) v);
            case F16 -> b.putShort(at, floatToHalf((float) v));
            case BF16 -> b.putShort(at, floatToBfloat16((float) v));
            case BOOL -> b.put(at, (byte) (v != 0 ? 1 : 0));
            default -> setLong(b, t, i, (long) v);
        }
    }

    // ---- dtypes.cu's float16 and bfloat16 bits (et_half_to_float, ...): the CPU's HalfFloats, written again here, as the kernel is

    static float halfToFloat(short bits) {
        int h = bits & 0xffff;
        int sign = (h & 0x8000) << 16, exp = (h >>> 10) & 0x1f, mant = h & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        if (exp == 0) {
            float v = mant * 0x1.0p-24f;
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    static short floatToHalf(float f) {
        int bits = Float.floatToRawIntBits(f);
        int sign = (bits >>> 16) & 0x8000;
        int abs = bits & 0x7fffffff;
        if (abs >= 0x7f800000) return (short) (sign | 0x7c00 | (abs > 0x7f800000 ? 0x200 | ((abs >>> 13) & 0x3ff) : 0));
        if (abs >= 0x477ff000) return (short) (sign | 0x7c00);
        int exp = abs >>> 23;
        if (exp < 113) {
            if (exp < 102) return (short) sign;
            int mant = (abs & 0x7fffff) | 0x800000;
            int shift = 126 - exp;
            int half = mant >>> shift;
            int rest = mant & ((1 << shift) - 1), halfway = 1 << (shift - 1);
            if (rest > halfway || (rest == halfway && (half & 1) != 0)) half++;
            return (short) (sign | half);
        }
        int mant = abs & 0x7fffff;
        int half = ((exp - 112) << 10) | (mant >>> 13);
        int rest = mant & 0x1fff;
        if (rest > 0x1000 || (rest == 0x1000 && (half & 1) != 0)) half++;
        return (short) (sign | half);
    }

    static float bfloat16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xffff) << 16);
    }

    static short floatToBfloat16(float f) {
        if (Float.isNaN(f)) return (short) 0x7fc0;
        int bits = Float.floatToRawIntBits(f);
        int rounding = 0x7fff + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }

    /** dtypes.cu's et_convert: the CPU's copy_ (Strided.scatter). */
    static void convert(ByteBuffer src, ElementType st, long i, ByteBuffer dst, ElementType dt, long j) {
        if (!st.floating() && !dt.floating()) {
            setLong(dst, dt, j, getLong(src, st, i));
        } else if (st.floating() && !dt.floating() && dt != ElementType.BOOL) {
            double v = getDouble(src, st, i);
            setLong(dst, dt, j, dt == ElementType.I64 ? (long) v : (int) v);
        } else {
            setDouble(dst, dt, j, getDouble(src, st, i));
        }
    }

    private static byte compareDoubles(int op, double u, double v) {
        if (Double.isNaN(u) || Double.isNaN(v)) return (byte) (op == DeviceOps.CMP_NE ? 1 : 0);
        return test(op, u == v ? 0 : u < v ? -1 : 1);
    }

    private static byte compareLongs(int op, long u, long v) {
        return test(op, Long.compare(u, v));
    }

    private static byte test(int op, int cmp) {
        boolean r = switch (op) {
            case DeviceOps.CMP_EQ -> cmp == 0;
            case DeviceOps.CMP_NE -> cmp != 0;
            case DeviceOps.CMP_LT -> cmp < 0;
            case DeviceOps.CMP_LE -> cmp <= 0;
            case DeviceOps.CMP_GT -> cmp > 0;
            case DeviceOps.CMP_GE -> cmp >= 0;
            default -> throw new IllegalArgumentException("no comparison has code " + op);
        };
        return (byte) (r ? 1 : 0);
    }
}
