package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.HostStorage;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/** Sums, means, maxima and minima, over everything or along one dimension, with their gradients. */
public final class Reduce {

    private Reduce() { }

    /** What {@code torch.max(x, dim)} and {@code torch.min(x, dim)} return. */
    public record MaxResult(Tensor values, Tensor indices) { }

    /** A dimension seen as [outer, size, inner], the layout every per-dim loop here uses. */
    record Axis(int outer, int size, int inner, int[] reducedShape, int[] keptShape) {
        static Axis of(String op, Tensor t, int dim) {
            int[] s = t.shape();
            int d = Shapes.wrapDim(op, dim, s.length);
            if (s.length == 0) return new Axis(1, 1, 1, new int[0], new int[0]);
            int outer = 1, inner = 1;
            for (int i = 0; i < d; i++) outer *= s[i];
            for (int i = d + 1; i < s.length; i++) inner *= s[i];
            int[] reduced = new int[s.length - 1];
            for (int i = 0, k = 0; i < s.length; i++) if (i != d) reduced[k++] = s[i];
            int[] kept = s.clone();
            kept[d] = 1;
            return new Axis(outer, s[d], inner, reduced, kept);
        }
    }

    public static Tensor sum(Tensor x) {
        if (!x.device().isCpu()) return DeviceMath.sum(x, false);
        if (x.dtype() != DType.FLOAT32) return sumOther(x, null, false, false);
        float[] d = x.contiguousFloats();
        double s = 0; // double accumulator: sums of many float32 terms stay accurate
        for (float v : d) s += v;
        return Tensor.result(new float[] {(float) s}, new int[0], new SumAll(x, 1f, "SumBackward0"));
    }

    public static Tensor mean(Tensor x) {
        if (!x.device().isCpu()) return DeviceMath.sum(x, true);
        if (x.dtype() != DType.FLOAT32) return sumOther(x, null, false, true);
        float[] d = x.contiguousFloats();
        double s = 0;
        for (float v : d) s += v;
        return Tensor.result(new float[] {(float) (s / d.length)}, new int[0], new SumAll(x, 1f / d.length, "MeanBackward0"));
    }

    public static Tensor sum(Tensor x, int dim, boolean keepdim) {
        return alongDim(x, dim, keepdim, false);
    }

    public static Tensor mean(Tensor x, int dim, boolean keepdim) {
        return alongDim(x, dim, keepdim, true);
    }

    private static Tensor alongDim(Tensor x, int dim, boolean keepdim, boolean mean) {
        Axis ax = Axis.of(mean ? "mean" : "sum", x, dim);
        if (!x.device().isCpu()) return DeviceMath.sumDim(x, ax, keepdim, mean);
        if (x.dtype() != DType.FLOAT32) return sumOther(x, ax, keepdim, mean);
        float[] in = x.contiguousFloats(), out = new float[ax.outer * ax.inner];
        for (int o = 0; o < ax.outer; o++) {
            for (int k = 0; k < ax.size; k++) {
                int base = (o * ax.size + k) * ax.inner;
                for (int i = 0; i < ax.inner; i++) out[o * ax.inner + i] += in[base + i];
            }
        }
        float scale = mean ? 1f / ax.size : 1f;
        if (mean) for (int i = 0; i < out.length; i++) out[i] *= scale;
        return Tensor.result(out, keepdim ? ax.keptShape : ax.reducedShape,
                new SumDim(x, ax, scale, mean ? "MeanBackward1" : "SumBackward1"));
    }

    /**
     * Sums and means of the other dtypes: floating types accumulate in double and keep their
     * dtype; integers and bool sum exactly in int64 (wrapping), as PyTorch's {@code sum} does,
     * and have no mean.
     */
    private static Tensor sumOther(Tensor x, Axis ax, boolean keepdim, boolean mean) {
        DType in = x.dtype();
        if (mean && !in.isFloatingPoint()) {
            throw new IllegalArgumentException("mean(): could not infer output dtype. Input dtype must be either a floating point or "
                    + "complex dtype. Got: " + in.scalarTypeName() + "; convert first, e.g. to(DType.FLOAT32).mean()");
        }
        if (ax == null) ax = new Axis(1, x.numel(), 1, new int[0], new int[0]);
        int[] shape = keepdim ? ax.keptShape : ax.reducedShape;
        int outN = ax.outer * ax.inner;
        if (!in.isFloatingPoint()) {
            long[] d = x.contiguousLongs(), out = new long[outN];
            for (int o = 0; o < ax.outer; o++)
                for (int k = 0; k < ax.size; k++)
                    for (int i = 0; i < ax.inner; i++) out[o * ax.inner + i] += d[(o * ax.size + k) * ax.inner + i];
            return Tensor.ofLongs(out, shape);
        }
        double[] d = x.contiguousDoubles(), out = new double[outN];
        for (int o = 0; o < ax.outer; o++)
            for (int k = 0; k < ax.size; k++)
                for (int i = 0; i < ax.inner; i++) out[o * ax.inner + i] += d[(o * ax.size + k) * ax.inner + i];
        double scale = mean ? 1.0 / ax.size : 1.0;
        if (mean) for (int i = 0; i < outN; i++) out[i] *= scale;
        Tensor r = Tensor.of(DType.FLOAT64, out, shape).to(in);
        int[] kept = ax.keptShape, inShape = x.shape();
        String name = (mean ? "MeanBackward" : "SumBackward") + (shape.length == 0 && kept.length == 0 ? "0" : "1");
        Node node = new Node.ReadsNoInputs(x) {
            @Override
            public String name() {
                return name;
            }

            @Override
            public Tensor[] backward(Tensor g) {
                int[] ones = new int[inShape.length];
                java.util.Arrays.fill(ones, 1);
                Tensor e = (kept.length == 0 ? g.reshape(ones) : g.reshape(kept)).expand(inShape);
                return new Tensor[] {e.mul(scale).to(in)};
            }
        };
        return Tensor.result(in, ((HostStorage) r.storage()).array(), shape, node);
    }

    public static Tensor max(Tensor x) {
        return extreme(x, false);
    }

    public static Tensor min(Tensor x) {
        return extreme(x, true);
    }

    public static MaxResult max(Tensor x, int dim, boolean keepdim) {
        return extreme(x, dim, keepdim, false);
    }

    public static MaxResult min(Tensor x, int dim, boolean keepdim) {
        return extreme(x, dim, keepdim, true);
    }

    /**
     * The rule of max and min, here and in the device kernels: a NaN wins (both propagate NaN, as
     * PyTorch's), then the larger (max) or smaller (min) value; scanning in order, an equal value
     * keeps the first.
     */
    private static boolean beats(float v, float best, boolean min) {
        return (min ? v < best : v > best) || (Float.isNaN(v) && !Float.isNaN(best));
    }

    private static boolean beats(double v, double best, boolean min) {
        return (min ? v < best : v > best) || (Double.isNaN(v) && !Double.isNaN(best));
    }

    private static String name(boolean min) {
        return min ? "min" : "max";
    }

    /** The whole tensor's max or min, a 0-dim tensor (the gradient goes to the first extreme element). */
    private static Tensor extreme(Tensor x, boolean min) {
        if (x.numel() == 0) throw new IllegalArgumentException(name(min) + "(): Expected reduction dim to be specified for input.numel() == 0");
        if (!x.device().isCpu()) return DeviceExtremes.all(x, min).values();
        if (x.dtype() != DType.FLOAT32) return extremeOther(x, min);
        float[] d = x.contiguousFloats();
        int arg = argOf(d, min);
        return Tensor.result(new float[] {d[arg]}, new int[0], new Pick(x, new int[] {arg}, min ? "MinBackward1" : "MaxBackward1"));
    }

    private static int argOf(float[] d, boolean min) {
        int arg = 0;
        for (int i = 1; i < d.length; i++) if (beats(d[i], d[arg], min)) arg = i;
        return arg;
    }

    /** {@code argmax()} / {@code argmin()} without a dimension: the flat index of the whole tensor's extreme, 0-dim int64. */
    public static Tensor argExtreme(Tensor x, boolean min) {
        String op = min ? "argmin" : "argmax";
        if (x.numel() == 0) throw new IllegalArgumentException(op + "(): Expected reduction dim to be specified for input.numel() == 0.");
        if (!x.device().isCpu()) return DeviceExtremes.all(x, min).indices();
        if (x.dtype() == DType.FLOAT32) return Tensor.ofLongs(new long[] {argOf(x.contiguousFloats(), min)}, new int[0]);
        return extremeOther(x.reshape(-1), new Axis(1, x.numel(), 1, new int[0], new int[0]), false, min).indices();
    }

    private static MaxResult extreme(Tensor x, int dim, boolean keepdim, boolean min) {
        Axis ax = Axis.of(name(min), x, dim);
        if (ax.size == 0) throw new IllegalArgumentException(name(min) + "(): cannot reduce over a zero-size dimension " + dim);
        if (!x.device().isCpu()) return DeviceExtremes.alongDim(x, ax, keepdim, min);
        if (x.dtype() != DType.FLOAT32) return extremeOther(x, ax, keepdim, min);
        float[] in = x.contiguousFloats();
        float[] values = new float[ax.outer * ax.inner];
        long[] indices = new long[values.length];
        int[] flat = new int[values.length];
        for (int o = 0; o < ax.outer; o++) {
            for (int i = 0; i < ax.inner; i++) {
                int best = 0;
                float bv = in[o * ax.size * ax.inner + i];
                for (int k = 1; k < ax.size; k++) {
                    float v = in[(o * ax.size + k) * ax.inner + i];
                    if (beats(v, bv, min)) {
                        bv = v;
                        best = k;
                    }
                }
                int r = o * ax.inner + i;
                values[r] = bv;
                indices[r] = best;
                flat[r] = (o * ax.size + best) * ax.inner + i;
            }
        }
        int[] shape = keepdim ? ax.keptShape : ax.reducedShape;
        return new MaxResult(Tensor.result(values, shape, new Pick(x, flat, min ? "MinBackward0" : "MaxBackward0")), Tensor.ofLongs(indices, shape));
    }

    /** max or min along a dimension for dtypes other than float32: compared as doubles, values kept in their dtype (not differentiable). */
    private static MaxResult extremeOther(Tensor x, Axis ax, boolean keepdim, boolean min) {
        double[] in = x.contiguousDoubles();
        long[] indices = new long[ax.outer * ax.inner];
        int[] flat = new int[indices.length];
        for (int o = 0; o < ax.outer; o++) {
            for (int i = 0; i < ax.inner; i++) {
                int best = 0;
                double bv = in[o * ax.size * ax.inner + i];
                for (int k = 1; k < ax.size; k++) {
                    double v = in[(o * ax.size + k) * ax.inner + i];
                    if (beats(v, bv, min)) {
                        bv = v;
                        best = k;
                    }
                }
                int r = o * ax.inner + i;
                indices[r] = best;
                flat[r] = (o * ax.size + best) * ax.inner + i;
            }
        }
        int[] shape = keepdim ? ax.keptShape : ax.reducedShape;
        Tensor values = Tensor.zeros(x.dtype(), shape);
        Tensor src = x.contiguous();
        HostStorage from = (HostStorage) src.storage(), to = (HostStorage) values.storage();
        for (int r = 0; r < flat.length; r++) {
            if (x.dtype().isFloatingPoint()) to.setDouble(r, from.getDouble(src.storageOffset() + flat[r]));
            else to.setLong(r, from.getLong(src.storageOffset() + flat[r]));
        }
        return new MaxResult(values, Tensor.ofLongs(indices, shape));
    }

    private static Tensor extremeOther(Tensor x, boolean min) {
        if (x.dtype().isFloatingPoint()) {
            double[] d = x.contiguousDoubles();
            double m = d[0];
            for (double v : d) if (beats(v, m, min)) m = v;
            return Tensor.of(DType.FLOAT64, new double[] {m}).to(x.dtype());
        }
        long[] d = x.contiguousLongs();
        long m = d[0];
        for (long v : d) m = min ? Math.min(m, v) : Math.max(m, v);
        return Tensor.of(DType.INT64, new long[] {m}).to(x.dtype());
    }

    private static final class SumAll extends Node.ReadsNoInputs {
        private final float scale;
        private final String name;

        SumAll(Tensor x, float scale, String name) {
            super(x);
            this.scale = scale;
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Tensor[] backward(Tensor g) {
            return new Tensor[] {Tensor.full(g.item() * scale, inputs()[0].shape())};
        }
    }

    private static final class SumDim extends Node.ReadsNoInputs {
        private final Axis ax;
        private final float scale;
        private final String name;

        SumDim(Tensor x, Axis ax, float scale, String name) {
            super(x);
            this.ax = ax;
            this.scale = scale;
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Tensor[] backward(Tensor g) {
            float[] gd = g.contiguousFloats(), dx = new float[ax.outer * ax.size * ax.inner];
            for (int o = 0; o < ax.outer; o++)
                for (int k = 0; k < ax.size; k++)
                    for (int i = 0; i < ax.inner; i++) dx[(o * ax.size + k) * ax.inner + i] = gd[o * ax.inner + i] * scale;
            return new Tensor[] {Tensor.of(dx, inputs()[0].shape())};
        }
    }

    /** Gradient flows to the picked elements only (max, min). */
    private static final class Pick extends Node {
        private final int[] flat;
        private final String name;

        Pick(Tensor x, int[] flat, String name) {
            super(x);
            this.flat = flat;
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Tensor[] backward(Tensor g) {
            float[] gd = g.contiguousFloats(), dx = new float[inputs()[0].numel()];
            for (int i = 0; i < flat.length; i++) dx[flat[i]] += gd[i];
            return new Tensor[] {Tensor.of(dx, inputs()[0].shape())};
        }
    }
}
