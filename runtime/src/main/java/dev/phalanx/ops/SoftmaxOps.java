package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.autograd.Reproducible;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Tensor;

/**
 * log_softmax and softmax along one dimension, numerically stable (the row maximum is
 * subtracted first). Backward of log_softmax: dx = g - softmax * sum(g); of softmax:
 * dx = y * (g - sum(g * y)).
 */
public final class SoftmaxOps {

    private SoftmaxOps() { }

    public static Tensor logSoftmax(Tensor x, int dim) {
        if (!x.device().isCpu()) return DeviceLayers.softmax(x, Reduce.Axis.of("log_softmax", x, dim), true);
        DType dtype = Float32Edge.dtype("log_softmax", x);
        if (dtype != DType.FLOAT32) return Float32Edge.out(logSoftmax(Float32Edge.in(x), dim), dtype);
        Reduce.Axis ax = Reduce.Axis.of("log_softmax", x, dim);
        float[] in = x.contiguousFloats(), out = new float[in.length];
        boolean strict = Reproducible.current() != null;
        forEachRow(ax, (base, stride) -> {
            float max = Float.NEGATIVE_INFINITY;
            for (int k = 0; k < ax.size(); k++) max = Math.max(max, in[base + k * stride]);
            double s = 0;
            for (int k = 0; k < ax.size(); k++) s += exp(in[base + k * stride] - max, strict);
            float lse = max + (float) (strict ? StrictMath.log(s) : Math.log(s));
            for (int k = 0; k < ax.size(); k++) out[base + k * stride] = in[base + k * stride] - lse;
        });
        return Tensor.result(out, x.shape(), new LogSoftmaxBackward(x, ax, out));
    }

    public static Tensor softmax(Tensor x, int dim) {
        if (!x.device().isCpu()) return DeviceLayers.softmax(x, Reduce.Axis.of("softmax", x, dim), false);
        DType dtype = Float32Edge.dtype("softmax", x);
        if (dtype != DType.FLOAT32) return Float32Edge.out(softmax(Float32Edge.in(x), dim), dtype);
        Reduce.Axis ax = Reduce.Axis.of("softmax", x, dim);
        float[] in = x.contiguousFloats(), out = new float[in.length];
        forEachRow(ax, (base, stride) -> {
            float max = Float.NEGATIVE_INFINITY;
            for (int k = 0; k < ax.size(); k++) max = Math.max(max, in[base + k * stride]);
            double s = 0;
            for (int k = 0; k < ax.size(); k++) {
                float e = (float) Math.exp(in[base + k * stride] - max);
                out[base + k * stride] = e;
                s += e;
            }
            float inv = (float) (1 / s);
            for (int k = 0; k < ax.size(); k++) out[base + k * stride] *= inv;
        });
        return Tensor.result(out, x.shape(), new SoftmaxBackward(x, ax, out));
    }

    /**
     * e^v; in the reproducible mode (issue #13) {@code StrictMath}'s, whose bits the Java spec
     * fixes on every machine ({@code Math.exp} is a HotSpot intrinsic that may differ by 1 ulp).
     */
    private static double exp(double v, boolean strict) {
        return strict ? StrictMath.exp(v) : Math.exp(v);
    }

    interface Row {
        void run(int base, int stride);
    }

    static void forEachRow(Reduce.Axis ax, Row row) {
        for (int o = 0; o < ax.outer(); o++)
            for (int i = 0; i < ax.inner(); i++) row.run(o * ax.size() * ax.inner() + i, ax.inner());
    }

    private static final class LogSoftmaxBackward extends Node.ReadsNoInputs {
        private final Reduce.Axis ax;
        private final float[] y;

        LogSoftmaxBackward(Tensor x, Reduce.Axis ax, float[] y) {
            super(x);
            this.ax = ax;
            this.y = y;
        }

        @Override
        public String name() {
            return "LogSoftmaxBackward0";
        }

        @Override
        protected boolean savesOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            float[] g = grad.contiguousFloats(), dx = new float[g.length];
            boolean strict = Reproducible.current() != null;
            forEachRow(ax, (base, stride) -> {
                float s = 0;
                for (int k = 0; k < ax.size(); k++) s += g[base + k * stride];
                for (int k = 0; k < ax.size(); k++) {
                    int i = base + k * stride;
                    dx[i] = g[i] - (float) exp(y[i], strict) * s;
                }
            });
            return new Tensor[] {Tensor.of(dx, grad.shape())};
        }
    }

    private static final class SoftmaxBackward extends Node.ReadsNoInputs {
        private final Reduce.Axis ax;
        private final float[] y;

        SoftmaxBackward(Tensor x, Reduce.Axis ax, float[] y) {
            super(x);
            this.ax = ax;
            this.y = y;
        }

        @Override
        public String name() {
            return "SoftmaxBackward0";
        }

        @Override
        protected boolean savesOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            float[] g = grad.contiguousFloats(), dx = new float[g.length];
            forEachRow(ax, (base, stride) -> {
                float s = 0;
                for (int k = 0; k < ax.size(); k++) s += g[base + k * stride] * y[base + k * stride];
                for (int k = 0; k < ax.size(); k++) {
                    int i = base + k * stride;
                    dx[i] = y[i] * (g[i] - s);
                }
            });
            return new Tensor[] {Tensor.of(dx, grad.shape())};
        }
    }
}
