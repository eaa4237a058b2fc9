package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/** Sums, means and maxima, over everything or along one dimension, with their gradients. */
public final class Reduce {

    private Reduce() { }

    /** What {@code torch.max(x, dim)} returns. */
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
        float[] d = x.contiguousFloats();
        double s = 0; // double accumulator: sums of many float32 terms stay accurate
        for (float v : d) s += v;
        return Tensor.result(new float[] {(float) s}, new int[0], new SumAll(x, 1f, "SumBackward0"));
    }

    public static Tensor mean(Tensor x) {
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

    public static Tensor max(Tensor x) {
        float[] d = x.contiguousFloats();
        if (d.length == 0) throw new IllegalArgumentException("max(): Expected reduction dim to be specified for input.numel() == 0");
        int arg = 0;
        for (int i = 1; i < d.length; i++) if (d[i] > d[arg] || Float.isNaN(d[i])) arg = i;
        return Tensor.result(new float[] {d[arg]}, new int[0], new Pick(x, new int[] {arg}, "MaxBackward1"));
    }

    public static MaxResult max(Tensor x, int dim, boolean keepdim) {
        Axis ax = Axis.of("max", x, dim);
        if (ax.size == 0) throw new IllegalArgumentException("max(): cannot reduce over a zero-size dimension " + dim);
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
                    if (v > bv || (Float.isNaN(v) && !Float.isNaN(bv))) {
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
        return new MaxResult(Tensor.result(values, shape, new Pick(x, flat, "MaxBackward0")), Tensor.ofLongs(indices, shape));
    }

    private static final class SumAll extends Node {
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

    private static final class SumDim extends Node {
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

    /** Gradient flows to the picked elements only (max). */
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
