package dev.phalanx.ops;

import java.util.Arrays;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.DType;
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
        a = a.toFloat();
        b = b.toFloat();
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

    private static final class BinaryBackward extends Node {
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
                needsGrad(0) ? sumTo(ga, a.shape()) : null,
                needsGrad(1) ? sumTo(gb, b.shape()) : null};
        }
    }
}
