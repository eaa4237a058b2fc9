package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.Tensor;

/**
 * Elementwise functions of one tensor, each written as its value and its derivative side by
 * side: {@code f(x)} and {@code f'(x)} given x and y = f(x).
 */
public final class Pointwise {

    private Pointwise() { }

    /** One-argument functions. */
    public enum Unary {
        NEG("NegBackward0") {
            float f(float x) { return -x; }
            float df(float x, float y) { return -1f; }
        },
        EXP("ExpBackward0") {
            float f(float x) { return (float) Math.exp(x); }
            float df(float x, float y) { return y; }
        },
        LOG("LogBackward0") {
            float f(float x) { return (float) Math.log(x); }
            float df(float x, float y) { return 1f / x; }
        },
        SQRT("SqrtBackward0") {
            float f(float x) { return (float) Math.sqrt(x); }
            float df(float x, float y) { return 0.5f / y; }
        },
        ABS("AbsBackward0") {
            float f(float x) { return Math.abs(x); }
            float df(float x, float y) { return Math.signum(x); }
        },
        SIN("SinBackward0") {
            float f(float x) { return (float) Math.sin(x); }
            float df(float x, float y) { return (float) Math.cos(x); }
        },
        COS("CosBackward0") {
            float f(float x) { return (float) Math.cos(x); }
            float df(float x, float y) { return (float) -Math.sin(x); }
        },
        ASIN("AsinBackward0") {
            float f(float x) { return (float) Math.asin(x); }
            float df(float x, float y) { return (float) (1 / Math.sqrt(1 - (double) x * x)); }
        },
        TANH("TanhBackward0") {
            float f(float x) { return (float) Math.tanh(x); }
            float df(float x, float y) { return 1f - y * y; }
        },
        SIGMOID("SigmoidBackward0") {
            float f(float x) { return (float) (1 / (1 + Math.exp(-x))); }
            float df(float x, float y) { return y * (1f - y); }
        },
        RELU("ReluBackward0") {
            float f(float x) { return x > 0f ? x : 0f; }
            float df(float x, float y) { return y > 0f ? 1f : 0f; }
        };

        private final String backwardName;

        Unary(String backwardName) {
            this.backwardName = backwardName;
        }

        abstract float f(float x);

        abstract float df(float x, float y);
    }

    /** Functions of a tensor and a constant c. */
    public enum Scalar {
        ADD("AddBackward0") {
            float f(float x, float c) { return x + c; }
            float df(float x, float c) { return 1f; }
        },
        MUL("MulBackward0") {
            float f(float x, float c) { return x * c; }
            float df(float x, float c) { return c; }
        },
        POW("PowBackward0") {
            float f(float x, float c) { return c == 2f ? x * x : (float) Math.pow(x, c); }
            float df(float x, float c) { return c == 2f ? 2f * x : (float) (c * Math.pow(x, c - 1)); }
        },
        RSUB("RsubBackward1") {
            float f(float x, float c) { return c - x; }
            float df(float x, float c) { return -1f; }
        };

        private final String backwardName;

        Scalar(String backwardName) {
            this.backwardName = backwardName;
        }

        abstract float f(float x, float c);

        abstract float df(float x, float c);
    }

    public static Tensor unary(Unary fn, Tensor x) {
        float[] in = x.contiguousFloats(), out = new float[in.length];
        if (fn == Unary.RELU) { // the hot one: monomorphic and branch-free (signs are random: branches mispredict)
            for (int i = 0; i < in.length; i++) out[i] = Math.max(in[i], 0f);
        } else {
            for (int i = 0; i < in.length; i++) out[i] = fn.f(in[i]);
        }
        return Tensor.result(out, x.shape(), new UnaryBackward(fn, x, out));
    }

    public static Tensor scalar(Scalar fn, Tensor x, float c) {
        float[] in = x.contiguousFloats(), out = new float[in.length];
        for (int i = 0; i < in.length; i++) out[i] = fn.f(in[i], c);
        return Tensor.result(out, x.shape(), new ScalarBackward(fn, x, c));
    }

    private static final class UnaryBackward extends Node {
        private final Unary fn;
        private final float[] y;

        UnaryBackward(Unary fn, Tensor x, float[] y) {
            super(x);
            this.fn = fn;
            this.y = y;
        }

        @Override
        public String name() {
            return fn.backwardName;
        }

        @Override
        public Tensor[] backward(Tensor gradOutput) {
            float[] g = gradOutput.contiguousFloats(), x = inputs()[0].contiguousFloats(), dx = new float[g.length];
            if (fn == Unary.RELU) {
                // y >= +0, so its bits are 0 exactly where the gradient stops: mask = all ones when bits > 0
                for (int i = 0; i < g.length; i++) {
                    int mask = -Float.floatToRawIntBits(y[i]) >> 31;
                    dx[i] = Float.intBitsToFloat(Float.floatToRawIntBits(g[i]) & mask);
                }
            } else {
                for (int i = 0; i < g.length; i++) dx[i] = g[i] * fn.df(x[i], y[i]);
            }
            return new Tensor[] {Tensor.of(dx, gradOutput.shape())};
        }
    }

    private static final class ScalarBackward extends Node {
        private final Scalar fn;
        private final float c;

        ScalarBackward(Scalar fn, Tensor x, float c) {
            super(x);
            this.fn = fn;
            this.c = c;
        }

        @Override
        public String name() {
            return fn.backwardName;
        }

        @Override
        public Tensor[] backward(Tensor gradOutput) {
            float[] g = gradOutput.contiguousFloats(), x = inputs()[0].contiguousFloats(), dx = new float[g.length];
            for (int i = 0; i < g.length; i++) dx[i] = g[i] * fn.df(x[i], c);
            return new Tensor[] {Tensor.of(dx, gradOutput.shape())};
        }
    }
}
