package dev.phalanx.ops;

import java.util.Arrays;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.DeviceStorage;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/**
 * The elementwise arithmetic and the sums on tensors in device memory: {@code a op b} with
 * broadcasting and its in-place form, unary functions, a tensor and a constant, sums and means
 * (whole, along a dimension, down to a broadcast operand's shape), each forward with its backward
 * beside it, through the kernels of elementwise.cu and reductions.cu. The CPU ops call these at
 * their top when their input is on a device; float32 only. A broadcast hands the kernel its
 * shapes and strides in a small int32 table in device memory, uploaded once per distinct table
 * per device ({@code DeviceOps}' shape tables).
 */
public final class DeviceMath {

    private DeviceMath() { }

    // ---- the op codes of elementwise.cu (BINARY_*, UNARY_*, SCALAR_*)

    static int code(Binary.Fn fn) {
        return switch (fn) {
            case ADD -> 0;
            case SUB -> 1;
            case MUL -> 2;
            case DIV -> 3;
        };
    }

    static int code(Pointwise.Unary fn) {
        return switch (fn) {
            case NEG -> 0;
            case EXP -> 1;
            case LOG -> 2;
            case SQRT -> 3;
            case ABS -> 4;
            case SIN -> 5;
            case COS -> 6;
            case ASIN -> 7;
            case TANH -> 8;
            case SIGMOID -> 9;
            case RELU -> throw new IllegalArgumentException("relu has its own kernels (DeviceLayers.relu)");
        };
    }

    static int code(Pointwise.Scalar fn) {
        return switch (fn) {
            case ADD -> 0;
            case MUL -> 1;
            case POW -> 2;
            case RSUB -> 3;
        };
    }

    private static String lower(Binary.Fn fn) {
        return fn.name().toLowerCase(java.util.Locale.ROOT);
    }

    // ---- a op b, broadcast

    static Tensor binary(Binary.Fn fn, Tensor a, Tensor b) {
        DeviceLayers.float32(lower(fn), a, b);
        int[] shape = Shapes.broadcast(lower(fn), a.shape(), b.shape());
        DeviceLayers.On on = DeviceLayers.On.deviceOf(a);
        Tensor out = on.empty(shape);
        launchBinary(on, fn, a, b, out);
        return Tensor.result((DeviceStorage) out.storage(), shape, new Binary.BinaryBackward(fn, a, b));
    }

    /** out = a op b, with a and b broadcast to out's shape; out may be a itself. */
    private static void launchBinary(DeviceLayers.On on, Binary.Fn fn, Tensor a, Tensor b, Tensor out) {
        int[] shape = out.shape();
        long n = out.numel();
        if (n == 0) return;
        if (Arrays.equals(a.shape(), shape) && Arrays.equals(b.shape(), shape)) {
            on.ops().binarySame(on.stream(), code(fn), n, on.buf(a), on.buf(b), on.buf(out));
            return;
        }
        int nd = shape.length;
        int[] m = new int[3 * nd];
        System.arraycopy(shape, 0, m, 0, nd);
        System.arraycopy(Shapes.broadcastStrides(a.shape(), shape), 0, m, nd, nd);
        System.arraycopy(Shapes.broadcastStrides(b.shape(), shape), 0, m, 2 * nd, nd);
        on.ops().binaryBroadcast(on.stream(), code(fn), nd, n, on.buf(a), on.buf(b), on.buf(out), m);
    }

    /** {@code a op= b} on a device: b broadcast to a's shape, float32; a view is written through its strides. */
    public static void binaryInPlace(Binary.Fn fn, Tensor a, Tensor b) {
        String op = lower(fn) + "_";
        Tensor.checkSameDevice(op, a, b);
        DeviceLayers.float32(op, a, b);
        int[] shape = Shapes.broadcast(op, a.shape(), b.shape());
        if (!Arrays.equals(shape, a.shape())) {
            throw new IllegalArgumentException(op + ": output with shape " + Shapes.str(a.shape()) + " doesn't match the broadcast shape "
                    + Shapes.str(shape));
        }
        if (!a.isContiguous()) { // a view: computed beside it, then written through its strides
            DeviceTensors.copyInto(a, binary(fn, a.detach(), b.detach()));
            return;
        }
        launchBinary(DeviceLayers.On.deviceOf(a), fn, a, b, a);
    }

    /** {@code g} summed down to {@code shape} (a broadcast operand's gradient), in the CPU's order. */
    static Tensor sumTo(Tensor g, int[] shape) {
        DeviceLayers.float32("sum_to_size", g);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(g);
        Tensor out = on.empty(shape);
        int nd = g.dim();
        int[] m = new int[2 * nd];
        System.arraycopy(g.shape(), 0, m, 0, nd);
        Arrays.fill(m, nd, 2 * nd, 1);
        System.arraycopy(shape, 0, m, 2 * nd - shape.length, shape.length); // left-padded with ones, as broadcasting aligns
        if (out.numel() > 0) on.ops().sumToShape(on.stream(), nd, out.numel(), on.buf(g), on.buf(out), m);
        return out;
    }

    // ---- unary functions

    static Tensor unary(Pointwise.Unary fn, Tensor x) {
        DeviceLayers.float32(fn.name().toLowerCase(java.util.Locale.ROOT), x);
        int op = code(fn);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        Tensor y = on.empty(x.shape());
        if (x.numel() > 0) on.ops().unaryForward(on.stream(), op, x.numel(), on.buf(x), on.buf(y));
        UnaryBackward node = new UnaryBackward(fn, x);
        Tensor out = Tensor.result((DeviceStorage) y.storage(), y.shape(), node);
        node.output = out.detach();
        return out;
    }

    private static final class UnaryBackward extends Node {
        private final Pointwise.Unary fn;
        Tensor output;

        UnaryBackward(Pointwise.Unary fn, Tensor x) {
            super(x);
            this.fn = fn;
        }

        @Override
        public String name() {
            return fn.backwardName;
        }

        @Override
        protected boolean savesOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            DeviceLayers.On on = DeviceLayers.On.deviceOf(grad);
            Tensor x = inputs()[0];
            Tensor dx = on.empty(x.shape());
            if (x.numel() > 0) on.ops().unaryBackward(on.stream(), code(fn), x.numel(), on.buf(x), on.buf(output), on.buf(grad), on.buf(dx));
            return new Tensor[] {dx};
        }
    }

    // ---- a tensor and a constant

    static Tensor scalar(Pointwise.Scalar fn, Tensor x, float c) {
        DeviceLayers.float32(fn.name().toLowerCase(java.util.Locale.ROOT), x);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        Tensor y = on.empty(x.shape());
        if (x.numel() > 0) on.ops().scalarForward(on.stream(), code(fn), c, x.numel(), on.buf(x), on.buf(y));
        return Tensor.result((DeviceStorage) y.storage(), y.shape(), new ScalarBackward(fn, x, c));
    }

    /** {@code x.add_(c)} or {@code x.mul_(c)} on a device (float32; a view is written through its strides). */
    public static void scalarInPlace(Pointwise.Scalar fn, Tensor x, float c) {
        String op = fn.name().toLowerCase(java.util.Locale.ROOT) + "_";
        DeviceLayers.float32(op, x);
        if (!x.isContiguous()) { // a view: computed beside it, then written through its strides
            DeviceTensors.copyInto(x, scalar(fn, x.detach(), c));
            return;
        }
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        if (x.numel() > 0) on.ops().scalarForward(on.stream(), code(fn), c, x.numel(), on.buf(x), on.buf(x));
    }

    private static final class ScalarBackward extends Node {
        private final Pointwise.Scalar fn;
        private final float c;

        ScalarBackward(Pointwise.Scalar fn, Tensor x, float c) {
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
            return fn == Pointwise.Scalar.POW;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            DeviceLayers.On on = DeviceLayers.On.deviceOf(grad);
            Tensor dx = on.empty(grad.shape());
            // only pow reads x (it alone saves it); for the others grad's buffer stands in for x's, which the kernel never reads
            Tensor x = fn == Pointwise.Scalar.POW ? inputs()[0] : grad;
            if (dx.numel() > 0) on.ops().scalarBackward(on.stream(), code(fn), c, dx.numel(), on.buf(x), on.buf(grad), on.buf(dx));
            return new Tensor[] {dx};
        }
    }

    // ---- sums and means

    /** The whole tensor's sum (mean false) or mean, a scalar. */
    static Tensor sum(Tensor x, boolean mean) {
        if (!x.dtype().isFloatingPoint()) return sumIntegers(x, null, false, mean);
        DeviceLayers.float32(mean ? "mean" : "sum", x);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        long n = x.numel();
        float scale = mean ? 1f / n : 1f;
        Tensor out = on.empty();
        on.ops().sumAll(on.stream(), n, on.buf(x), on.buf(out), scale);
        Reduce.Axis whole = new Reduce.Axis(1, x.numel(), 1, new int[0], new int[0]);
        return Tensor.result((DeviceStorage) out.storage(), new int[0], new SumBackward(x, whole, scale, mean ? "MeanBackward0" : "SumBackward0"));
    }

    /** The sum or mean along one dimension. */
    static Tensor sumDim(Tensor x, Reduce.Axis ax, boolean keepdim, boolean mean) {
        if (!x.dtype().isFloatingPoint()) return sumIntegers(x, ax, keepdim, mean);
        DeviceLayers.float32(mean ? "mean" : "sum", x);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        float scale = mean ? 1f / ax.size() : 1f;
        int[] shape = keepdim ? ax.keptShape() : ax.reducedShape();
        Tensor out = on.empty(shape);
        if (out.numel() > 0) on.ops().sumDim(on.stream(), ax.outer(), ax.size(), ax.inner(), scale, on.buf(x), on.buf(out));
        return Tensor.result((DeviceStorage) out.storage(), shape, new SumBackward(x, ax, scale, mean ? "MeanBackward1" : "SumBackward1"));
    }

    /**
     * The sum of an integer or bool tensor, whole (ax null) or along a dimension: exact, in int64 and
     * wrapping, as PyTorch's (and the CPU's) sum; {@code (predicted == labels).sum()} counts on the
     * device. No mean, as PyTorch has none for integers. Not differentiable.
     */
    private static Tensor sumIntegers(Tensor x, Reduce.Axis ax, boolean keepdim, boolean mean) {
        if (mean) {
            throw new IllegalArgumentException("mean(): could not infer output dtype. Input dtype must be either a floating point or "
                    + "complex dtype. Got: " + x.dtype().scalarTypeName() + "; convert first, e.g. to(DType.FLOAT32).mean()");
        }
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        var type = dev.phalanx.tensor.DeviceTensors.elementType(x.dtype(), "sum", x.device());
        int[] shape = ax == null ? new int[0] : keepdim ? ax.keptShape() : ax.reducedShape();
        Tensor out = Tensor.result(on.storage(dev.phalanx.tensor.DType.INT64, dev.phalanx.tensor.Shapes.numel(shape)), shape, null);
        if (ax == null) on.ops().sumAllLong(on.stream(), x.numel(), on.buf(x), type, on.buf(out));
        else if (out.numel() > 0) on.ops().sumDimLong(on.stream(), ax.outer(), ax.size(), ax.inner(), on.buf(x), type, on.buf(out));
        return out;
    }

    private static final class SumBackward extends Node.ReadsNoInputs {
        private final Reduce.Axis ax;
        private final float scale;
        private final String name;

        SumBackward(Tensor x, Reduce.Axis ax, float scale, String name) {
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
        public Tensor[] backward(Tensor grad) {
            DeviceLayers.On on = DeviceLayers.On.deviceOf(grad);
            Tensor dx = on.empty(inputs()[0].shape());
            if (dx.numel() > 0) on.ops().expandDim(on.stream(), ax.outer(), ax.size(), ax.inner(), scale, on.buf(grad), on.buf(dx));
            return new Tensor[] {dx};
        }
    }
}
