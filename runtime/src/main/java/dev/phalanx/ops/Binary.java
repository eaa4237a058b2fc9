package dev.phalanx.ops;

import java.util.Arrays;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.HostStorage;
import dev.phalanx.tensor.Strided;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/** Elementwise +, -, *, / of two tensors with NumPy/PyTorch broadcasting, and their gradients. */
public final class Binary {

    private Binary() { }

    public enum Fn {
        ADD("add", "AddBackward0"), SUB("sub", "SubBackward0"), MUL("mul", "MulBackward0"), DIV("div", "DivBackward0");

        final String op;
        final String backwardName;

        Fn(String op, String backwardName) {
            this.op = op;
            this.backwardName = backwardName;
        }

        double d(double a, double b) {
            switch (this) {
                case ADD: return a + b;
                case SUB: return a - b;
                case MUL: return a * b;
                default: return a / b;
            }
        }

        /** Integer arithmetic; on bool, add is "or" and mul is "and", as PyTorch's. */
        long l(long a, long b, boolean bool) {
            switch (this) {
                case ADD: return bool ? (a | b) : a + b;
                case SUB: return a - b;
                case MUL: return bool ? (a & b) : a * b;
                default: throw new IllegalStateException("integer division is true division and runs in floating point");
            }
        }

        float f(float a, float b) {
            switch (this) {
                case ADD: return a + b;
                case SUB: return a - b;
                case MUL: return a * b;
                default: return a / b;
            }
        }
    }

    public static Tensor apply(Fn fn, Tensor a, Tensor b) {
        Tensor.checkSameDevice(fn.op, a, b);
        DType type = DType.resultType(a, b);
        if (fn == Fn.DIV && !type.isFloatingPoint()) type = DType.DEFAULT_FLOAT; // true division, as torch.div
        if (fn == Fn.SUB && (a.dtype() == DType.BOOL || b.dtype() == DType.BOOL)) {
            throw new IllegalArgumentException(type == DType.BOOL
                    ? "Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or `logical_xor()` operator instead."
                    : "Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to invert a mask, use the `~` or "
                    + "`logical_not()` operator instead.");
        }
        if (!a.device().isCpu()) return DeviceMath.binary(fn, a, b, type);
        if (type != DType.FLOAT32 || a.dtype() != DType.FLOAT32 || b.dtype() != DType.FLOAT32) return mixed(fn, a, b, type);
        int[] sa = a.shape(), sb = b.shape();
        float[] x = a.contiguousFloats(), y = b.contiguousFloats();
        float[] out;
        int[] shape;
        if (Arrays.equals(sa, sb)) {
            shape = sa;
            out = new float[x.length];
            switch (fn) {
                case ADD: for (int i = 0; i < out.length; i++) out[i] = x[i] + y[i]; break;
                case SUB: for (int i = 0; i < out.length; i++) out[i] = x[i] - y[i]; break;
                case MUL: for (int i = 0; i < out.length; i++) out[i] = x[i] * y[i]; break;
                default: for (int i = 0; i < out.length; i++) out[i] = x[i] / y[i]; break;
            }
        } else {
            shape = Shapes.broadcast(fn.op, sa, sb);
            out = new float[Shapes.numel(shape)];
            if (y.length == 1) {
                float c = y[0];
                for (int i = 0; i < out.length; i++) out[i] = fn.f(x[i % x.length], c);
            } else {
                broadcastLoop(fn, x, Shapes.broadcastStrides(sa, shape), y, Shapes.broadcastStrides(sb, shape), shape, out);
            }
        }
        return Tensor.result(out, shape, new BinaryBackward(fn, a, b));
    }

    /**
     * Any other pair of dtypes: computed in the result type's arithmetic (float64 in double,
     * float32/float16/bfloat16 in float, integers and bool in long, narrowed by wrapping as
     * PyTorch's integers do) and stored in the result type.
     */
    private static Tensor mixed(Fn fn, Tensor a, Tensor b, DType type) {
        int[] shape = Shapes.broadcast(fn.op, a.shape(), b.shape());
        int n = Shapes.numel(shape);
        int[] ia = Strided.indices(shape, Shapes.broadcastStrides(a.shape(), shape), 0);
        int[] ib = Strided.indices(shape, Shapes.broadcastStrides(b.shape(), shape), 0);
        Tensor out = Tensor.zeros(type, shape);
        HostStorage o = (HostStorage) out.storage();
        if (type == DType.FLOAT64) {
            double[] x = a.contiguousDoubles(), y = b.contiguousDoubles(), r = o.doubles();
            for (int i = 0; i < n; i++) r[i] = fn.d(x[ia[i]], y[ib[i]]);
        } else if (type.isFloatingPoint()) {
            float[] x = a.contiguousFloats(), y = b.contiguousFloats();
            for (int i = 0; i < n; i++) o.setDouble(i, fn.f(x[ia[i]], y[ib[i]]));
        } else {
            long[] x = a.contiguousLongs(), y = b.contiguousLongs();
            for (int i = 0; i < n; i++) o.setLong(i, fn.l(x[ia[i]], y[ib[i]], type == DType.BOOL));
        }
        Node node = type.isFloatingPoint() ? new BinaryBackward(fn, a, b) : null;
        return Tensor.result(type, o.array(), shape, node);
    }

    /** {@code a op= b} with b broadcast to a's shape. */
    public static void inPlace(Fn fn, Tensor a, Tensor b) {
        if (a.dtype() != DType.FLOAT32) throw new IllegalArgumentException(fn.op + "_: in-place arithmetic needs a float32 tensor");
        int[] sa = a.shape();
        int[] shape = Shapes.broadcast(fn.op + "_", sa, b.shape());
        if (!Arrays.equals(shape, sa)) {
            throw new IllegalArgumentException(fn.op + "_: output with shape " + Shapes.str(sa) + " doesn't match the broadcast shape "
                    + Shapes.str(shape));
        }
        float[] x = a.data(), y = b.contiguousFloats();
        if (y.length == x.length) {
            switch (fn) {
                case ADD: for (int i = 0; i < x.length; i++) x[i] += y[i]; break;
                case SUB: for (int i = 0; i < x.length; i++) x[i] -= y[i]; break;
                case MUL: for (int i = 0; i < x.length; i++) x[i] *= y[i]; break;
                default: for (int i = 0; i < x.length; i++) x[i] /= y[i]; break;
            }
        } else {
            broadcastLoop(fn, x.clone(), Shapes.strides(sa), y, Shapes.broadcastStrides(b.shape(), shape), shape, x);
        }
    }

    private static void broadcastLoop(Fn fn, float[] x, int[] xs, float[] y, int[] ys, int[] shape, float[] out) {
        int rank = shape.length;
        int[] idx = new int[rank];
        int xi = 0, yi = 0;
        for (int o = 0; o < out.length; o++) {
            out[o] = fn.f(x[xi], y[yi]);
            for (int d = rank - 1; d >= 0; d--) { // odometer increment
                idx[d]++;
                xi += xs[d];
                yi += ys[d];
                if (idx[d] < shape[d]) break;
                xi -= xs[d] * shape[d];
                yi -= ys[d] * shape[d];
                idx[d] = 0;
            }
        }
    }

    /** Sums a broadcast gradient back down to {@code shape}. */
    public static Tensor sumTo(Tensor g, int[] shape) {
        int[] gs = g.shape();
        if (Arrays.equals(gs, shape)) return g;
        if (!g.device().isCpu()) return DeviceMath.sumTo(g, shape);
        if (g.dtype() != DType.FLOAT32) return sumToDouble(g, shape);
        float[] src = g.contiguousFloats(), dst = new float[Shapes.numel(shape)];
        int[] ts = Shapes.broadcastStrides(shape, gs);
        int rank = gs.length;
        int[] idx = new int[rank];
        int ti = 0;
        for (int i = 0; i < src.length; i++) {
            dst[ti] += src[i];
            for (int d = rank - 1; d >= 0; d--) {
                idx[d]++;
                ti += ts[d];
                if (idx[d] < gs[d]) break;
                ti -= ts[d] * gs[d];
                idx[d] = 0;
            }
        }
        return Tensor.of(dst, shape);
    }

    private static Tensor sumToDouble(Tensor g, int[] shape) {
        int[] gs = g.shape();
        double[] src = g.contiguousDoubles(), dst = new double[Shapes.numel(shape)];
        int[] to = Strided.indices(gs, Shapes.broadcastStrides(shape, gs), 0);
        for (int i = 0; i < src.length; i++) dst[to[i]] += src[i];
        return Tensor.of(DType.FLOAT64, dst, shape).to(g.dtype());
    }

    /** Also the device ops' node: its gradients are built from ops that run where g is. */
    static final class BinaryBackward extends Node {
        private final Fn fn;

        BinaryBackward(Fn fn, Tensor a, Tensor b) {
            super(a, b);
            this.fn = fn;
        }

        @Override
        public String name() {
            return fn.backwardName;
        }

        @Override
        protected boolean savesInput(int input) {
            return fn == Fn.MUL || fn == Fn.DIV; // add and sub need only the shapes
        }

        @Override
        public Tensor[] backward(Tensor g) {
            Tensor a = inputs()[0], b = inputs()[1];
            Tensor ga = null, gb = null;
            switch (fn) {
                case ADD:
                    ga = g;
                    gb = g;
                    break;
                case SUB:
                    ga = g;
                    gb = needsGrad(1) ? g.neg() : null;
                    break;
                case MUL:
                    ga = needsGrad(0) ? g.mul(b) : null;
                    gb = needsGrad(1) ? g.mul(a) : null;
                    break;
                default:
                    ga = needsGrad(0) ? g.div(b) : null;
                    gb = needsGrad(1) ? g.mul(a).div(b.mul(b)).neg() : null;
                    break;
            }
            return new Tensor[] {
                needsGrad(0) ? sumTo(ga, a.shape()).to(a.dtype()) : null,
                needsGrad(1) ? sumTo(gb, b.shape()).to(b.dtype()) : null};
        }
    }
}
