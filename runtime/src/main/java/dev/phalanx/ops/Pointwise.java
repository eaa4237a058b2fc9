package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.HostStorage;
import dev.phalanx.tensor.Tensor;

/**
 * Elementwise functions of one tensor, each written as its value and its derivative side by
 * side: {@code f(x)} and {@code f'(x)} given x and y = f(x). float32 runs in float, float64 in
 * double; float16 and bfloat16 in float, rounded back; integer tensors keep their dtype where
 * PyTorch keeps it (neg, abs, relu, + - * with an integer scalar) and become float32 elsewhere.
 */
public final class Pointwise {

    private Pointwise() { }

    /** One-argument functions. */
    public enum Unary {
        NEG("NegBackward0", true) {
            double f(double x) { return -x; }
            double df(double x, double y) { return -1; }
        },
        EXP("ExpBackward0", false) {
            double f(double x) { return Math.exp(x); }
            double df(double x, double y) { return y; }
        },
        LOG("LogBackward0", false) {
            double f(double x) { return Math.log(x); }
            double df(double x, double y) { return 1 / x; }
        },
        SQRT("SqrtBackward0", false) {
            double f(double x) { return Math.sqrt(x); }
            double df(double x, double y) { return 0.5 / y; }
        },
        ABS("AbsBackward0", true) {
            double f(double x) { return Math.abs(x); }
            double df(double x, double y) { return Math.signum(x); }
        },
        SIN("SinBackward0", false) {
            double f(double x) { return Math.sin(x); }
            double df(double x, double y) { return Math.cos(x); }
        },
        COS("CosBackward0", false) {
            double f(double x) { return Math.cos(x); }
            double df(double x, double y) { return -Math.sin(x); }
        },
        ASIN("AsinBackward0", false) {
            double f(double x) { return Math.asin(x); }
            double df(double x, double y) { return 1 / Math.sqrt(1 - x * x); }
        },
        TANH("TanhBackward0", false) {
            double f(double x) { return Math.tanh(x); }
            double df(double x, double y) { return 1 - y * y; }
        },
        SIGMOID("SigmoidBackward0", false) {
            double f(double x) { return 1 / (1 + Math.exp(-x)); }
            double df(double x, double y) { return y * (1 - y); }
        },
        RELU("ReluBackward0", true) {
            double f(double x) { return x > 0 ? x : 0; }
            double df(double x, double y) { return y > 0 ? 1 : 0; }
        };

        final String backwardName;
        /** Maps integers to integers (else an integer tensor becomes float32 first, as in PyTorch). */
        final boolean keepsIntegers;

        Unary(String backwardName, boolean keepsIntegers) {
            this.backwardName = backwardName;
            this.keepsIntegers = keepsIntegers;
        }

        abstract double f(double x);

        abstract double df(double x, double y);

        float f(float x) {
            return (float) f((double) x);
        }

        float df(float x, float y) {
            return (float) df((double) x, (double) y);
        }
    }

    /** Functions of a tensor and a constant c. */
    public enum Scalar {
        ADD("AddBackward0") {
            double f(double x, double c) { return x + c; }
            double df(double x, double c) { return 1; }
            float f(float x, float c) { return x + c; }
            long l(long x, long c) { return x + c; }
        },
        MUL("MulBackward0") {
            double f(double x, double c) { return x * c; }
            double df(double x, double c) { return c; }
            float f(float x, float c) { return x * c; }
            long l(long x, long c) { return x * c; }
        },
        POW("PowBackward0") {
            double f(double x, double c) { return c == 2 ? x * x : Math.pow(x, c); }
            double df(double x, double c) { return c == 2 ? 2 * x : c * Math.pow(x, c - 1); }
            float f(float x, float c) { return c == 2f ? x * x : (float) Math.pow(x, c); }
            long l(long x, long c) {
                long r = 1;
                for (long i = 0; i < c; i++) r *= x;
                return r;
            }
        },
        RSUB("RsubBackward1") {
            double f(double x, double c) { return c - x; }
            double df(double x, double c) { return -1; }
            float f(float x, float c) { return c - x; }
            long l(long x, long c) { return c - x; }
        };

        final String backwardName;

        Scalar(String backwardName) {
            this.backwardName = backwardName;
        }

        abstract double f(double x, double c);

        abstract double df(double x, double c);

        abstract float f(float x, float c);

        /** Integer arithmetic, wrapping. */
        abstract long l(long x, long c);
    }

    public static Tensor unary(Unary fn, Tensor x) {
        if (!x.device().isCpu()) {
            if (x.dtype() != DType.FLOAT32) return DeviceMath.unaryTyped(fn, x);
            return fn == Unary.RELU ? DeviceLayers.relu(x) : DeviceMath.unary(fn, x);
        }
        DType type = x.dtype();
        if (type == DType.FLOAT32) {
            float[] in = x.contiguousFloats(), out = new float[in.length];
            if (fn == Unary.RELU) { // the hot one: monomorphic and branch-free (signs are random: branches mispredict)
                for (int i = 0; i < in.length; i++) out[i] = Math.max(in[i], 0f);
            } else {
                for (int i = 0; i < in.length; i++) out[i] = fn.f(in[i]);
            }
            return Tensor.result(out, x.shape(), new UnaryBackward(fn, x, out));
        }
        if (!type.isFloatingPoint()) {
            if (type == DType.BOOL && fn == Unary.NEG) {
                throw new IllegalArgumentException("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
                        + "invert a mask, use the `~` or `logical_not()` operator instead.");
            }
            if (!fn.keepsIntegers) return unary(fn, x.to(DType.DEFAULT_FLOAT));
            long[] in = x.contiguousLongs();
            Tensor out = Tensor.zeros(type, x.shape());
            HostStorage o = (HostStorage) out.storage();
            for (int i = 0; i < in.length; i++) {
                long v = in[i];
                o.setLong(i, fn == Unary.NEG ? -v : fn == Unary.ABS ? Math.abs(v) : Math.max(v, 0));
            }
            return out;
        }
        double[] in = x.contiguousDoubles();
        Tensor out = Tensor.zeros(type, x.shape());
        HostStorage o = (HostStorage) out.storage();
        for (int i = 0; i < in.length; i++) o.setDouble(i, type == DType.FLOAT64 ? fn.f(in[i]) : fn.f((float) in[i]));
        return Tensor.result(type, o.array(), x.shape(), new UnaryBackward(fn, x, out.contiguousDoubles()));
    }

    /** {@code x op c} for a Java {@code float}: counts as the default float type (an integer tensor becomes float32). */
    public static Tensor scalar(Scalar fn, Tensor x, float c) {
        if (!x.device().isCpu() && x.dtype() == DType.FLOAT32) return DeviceMath.scalar(fn, x, c);
        if (x.dtype() == DType.FLOAT32) {
            float[] in = x.contiguousFloats(), out = new float[in.length];
            for (int i = 0; i < in.length; i++) out[i] = fn.f(in[i], c);
            return Tensor.result(out, x.shape(), new ScalarBackward(fn, x, c));
        }
        return scalar(fn, x, (double) c, DType.Category.FLOATING);
    }

    /**
     * {@code x op c} with PyTorch's promotion for a Python scalar of this category: a floating
     * scalar turns an integer tensor into float32; an integer scalar keeps an integer tensor's
     * dtype, computed in integers that wrap.
     */
    public static Tensor scalar(Scalar fn, Tensor x, double c, DType.Category category) {
        DType type = DType.resultType(x.dtype(), category);
        if (type == DType.FLOAT32 && x.dtype() == DType.FLOAT32) return scalar(fn, x, (float) c);
        if (!x.device().isCpu()) {
            if (!type.isFloatingPoint() && fn == Scalar.POW && c < 0) throw new IllegalArgumentException("Integers to negative integer powers are not allowed.");
            return DeviceMath.scalarTyped(fn, x, c, type);
        }
        int n = x.numel();
        Tensor out = Tensor.zeros(type, x.shape());
        HostStorage o = (HostStorage) out.storage();
        if (!type.isFloatingPoint()) {
            if (fn == Scalar.POW && c < 0) throw new IllegalArgumentException("Integers to negative integer powers are not allowed.");
            long[] in = x.contiguousLongs();
            long lc = (long) c;
            for (int i = 0; i < n; i++) o.setLong(i, fn.l(in[i], lc));
            return out;
        }
        if (type == DType.FLOAT64) {
            double[] in = x.contiguousDoubles(), r = o.doubles();
            for (int i = 0; i < n; i++) r[i] = fn.f(in[i], c);
        } else {
            float[] in = x.contiguousFloats();
            for (int i = 0; i < n; i++) o.setDouble(i, fn.f(in[i], (float) c));
        }
        Node node = x.dtype().isFloatingPoint() ? new ScalarBackward(fn, x, c) : null;
        return Tensor.result(type, o.array(), x.shape(), node);
    }

    private static final class UnaryBackward extends Node {
        private final Unary fn;
        private final Object y; // float[] for float32, double[] otherwise

        UnaryBackward(Unary fn, Tensor x, Object y) {
            super(x);
            this.fn = fn;
            this.y = y;
        }

        @Override
        public String name() {
            return fn.backwardName;
        }

        @Override
        protected boolean savesInput(int input) {
            return fn == Unary.LOG || fn == Unary.ABS || fn == Unary.SIN || fn == Unary.COS || fn == Unary.ASIN;
        }

        @Override
        protected boolean savesOutput() {
            return fn == Unary.EXP || fn == Unary.SQRT || fn == Unary.TANH || fn == Unary.SIGMOID || fn == Unary.RELU;
        }

        @Override
        protected boolean forgetsGradOutput() {
            return true;
        }

        /** ReLU's gradient written over the incoming one, which the engine handed over: no new array. */
        @Override
        public Tensor[] backwardReusing(Tensor gradOutput) {
            if (fn != Unary.RELU || !(y instanceof float[] yf) || inputs()[0].dtype() != DType.FLOAT32) return backward(gradOutput);
            float[] g = gradOutput.contiguousFloats(); // the storage's own array: the engine checked it covers it whole
            reluBackward(yf, g, g);
            return new Tensor[] {gradOutput};
        }

        /** dx = g where y > 0, else +0 (dx may be g itself). */
        private static void reluBackward(float[] y, float[] g, float[] dx) {
            // y >= +0, so its bits are 0 exactly where the gradient stops: mask = all ones when bits > 0
            for (int i = 0; i < g.length; i++) {
                int mask = -Float.floatToRawIntBits(y[i]) >> 31;
                dx[i] = Float.intBitsToFloat(Float.floatToRawIntBits(g[i]) & mask);
            }
        }

        @Override
        public Tensor[] backward(Tensor gradOutput) {
            Tensor x = inputs()[0];
            if (y instanceof float[] yf && x.dtype() == DType.FLOAT32) {
                float[] g = gradOutput.contiguousFloats(), dx = Backends.cpu().buffers().floats(g.length);
                if (fn == Unary.RELU) {
                    reluBackward(yf, g, dx);
                } else {
                    float[] xf = x.contiguousFloats();
                    for (int i = 0; i < g.length; i++) dx[i] = g[i] * fn.df(xf[i], yf[i]);
                }
                return new Tensor[] {Tensor.pooledGradient(dx, gradOutput.shape())};
            }
            double[] g = gradOutput.contiguousDoubles(), xd = x.contiguousDoubles(), yd = (double[]) y, dx = new double[g.length];
            for (int i = 0; i < g.length; i++) dx[i] = g[i] * fn.df(xd[i], yd[i]);
            return new Tensor[] {Tensor.of(DType.FLOAT64, dx, gradOutput.shape()).to(x.dtype())};
        }
    }

    private static final class ScalarBackward extends Node {
        private final Scalar fn;
        private final double c;

        ScalarBackward(Scalar fn, Tensor x, double c) {
            super(x);
            this.fn = fn;
            this.c = c;
        }

        @Override
        public String name() {
            return fn.backwardName;
        }

        @Override
        protected boolean savesInput(int input) {
            return fn == Scalar.POW;
        }

        @Override
        public Tensor[] backward(Tensor gradOutput) {
            Tensor x = inputs()[0];
            if (x.dtype() == DType.FLOAT32) {
                float[] g = gradOutput.contiguousFloats(), xf = x.contiguousFloats(), dx = new float[g.length];
                float cf = (float) c;
                for (int i = 0; i < g.length; i++) dx[i] = g[i] * (float) fn.df(xf[i], cf);
                return new Tensor[] {Tensor.of(dx, gradOutput.shape())};
            }
            double[] g = gradOutput.contiguousDoubles(), xd = x.contiguousDoubles(), dx = new double[g.length];
            for (int i = 0; i < g.length; i++) dx[i] = g[i] * fn.df(xd[i], c);
            return new Tensor[] {Tensor.of(DType.FLOAT64, dx, gradOutput.shape()).to(x.dtype())};
        }
    }
}
