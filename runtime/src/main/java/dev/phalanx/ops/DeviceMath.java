package dev.phalanx.ops;

import java.util.Arrays;

import dev.phalanx.autograd.Node;
import dev.phalanx.kernels.device.DeviceOps;
import dev.phalanx.kernels.device.ElementType;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceStorage;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/**
 * The elementwise arithmetic and the sums on tensors in device memory: {@code a op b} with
 * broadcasting and its in-place form, unary functions, a tensor and a constant, sums and means
 * (whole, along a dimension, down to a broadcast operand's shape), each forward with its backward
 * beside it, through the kernels of elementwise.cu and reductions.cu (float32) and dtypes.cu's typed
 * kernels (every other dtype and mixed pairs, with the CPU's promotion: {@code Binary.mixed}'s and
 * {@code Pointwise}'s arithmetic in double, float or wrapping long, so the result has the CPU's
 * dtype and bits). The CPU ops call these at their top when their input is on a device. A
 * broadcast hands the kernel its shapes and strides in a small int32 table in device memory,
 * uploaded once per distinct table per device ({@code DeviceOps}' shape tables).
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

    /** elementwise.cu has no code of its own for relu among the unary functions; dtypes.cu's unary_typed takes this one. */
    static final int RELU_CODE = 10;

    private static int typedCode(Pointwise.Unary fn) {
        return fn == Pointwise.Unary.RELU ? RELU_CODE : code(fn);
    }

    /** How dtypes.cu's typed kernels compute for a result of {@code type}: the CPU's double, float or long arithmetic. */
    static int mode(DType type) {
        return type == DType.FLOAT64 ? DeviceOps.MODE_DOUBLE : type.isFloatingPoint() ? DeviceOps.MODE_FLOAT : DeviceOps.MODE_LONG;
    }

    private static ElementType et(DType type, String op, Tensor on) {
        return DeviceTensors.elementType(type, op, on.device());
    }

    // ---- a op b, broadcast

    /** {@code a op b} with the result type the CPU's {@code Binary.apply} chose: float32 pairs through elementwise.cu, the rest typed. */
    static Tensor binary(Binary.Fn fn, Tensor a, Tensor b, DType type) {
        if (type == DType.FLOAT32 && a.dtype() == DType.FLOAT32 && b.dtype() == DType.FLOAT32) return binary(fn, a, b);
        String op = lower(fn);
        int[] shape = Shapes.broadcast(op, a.shape(), b.shape());
        DeviceLayers.On on = DeviceLayers.On.deviceOf(a);
        Tensor out = on.empty(type, shape);
        long n = out.numel();
        if (n > 0) {
            int[] meta = null;
            if (!Arrays.equals(a.shape(), shape) || !Arrays.equals(b.shape(), shape)) {
                int nd = shape.length;
                meta = new int[3 * nd];
                System.arraycopy(shape, 0, meta, 0, nd);
                System.arraycopy(Shapes.broadcastStrides(a.shape(), shape), 0, meta, nd, nd);
                System.arraycopy(Shapes.broadcastStrides(b.shape(), shape), 0, meta, 2 * nd, nd);
            }
            on.ops().binaryTyped(on.stream(), code(fn), mode(type), n, on.buf(a), et(a.dtype(), op, a), on.buf(b), et(b.dtype(), op, b), on.buf(out),
                    et(type, op, a), meta);
        }
        Node node = type.isFloatingPoint() ? new Binary.BinaryBackward(fn, a, b) : null;
        return Tensor.result((DeviceStorage) out.storage(), shape, node);
    }

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

    /**
     * {@code a op= b} on a device for any dtypes the CPU allows (Tensor's checkCast ran): the result of {@code a op b} in the
     * promoted type, written into a (converted, through its strides), as the CPU's {@code writeFrom(Binary.apply(...))}.
     */
    public static void typedInPlace(Binary.Fn fn, Tensor a, Tensor b, DType type) {
        String op = lower(fn) + "_";
        Tensor.checkSameDevice(op, a, b);
        int[] shape = Shapes.broadcast(op, a.shape(), b.shape());
        if (!Arrays.equals(shape, a.shape())) {
            throw new IllegalArgumentException(op + ": output with shape " + Shapes.str(a.shape()) + " doesn't match the broadcast shape "
                    + Shapes.str(shape));
        }
        DeviceTensors.copyInto(a, binary(fn, a.detach(), b.detach(), type));
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
        if (g.dtype() != DType.FLOAT32) return sumToDouble(g, shape);
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

    /** The CPU's {@code Binary.sumToDouble}: other floating dtypes summed in double, in the CPU's order, and converted back. */
    private static Tensor sumToDouble(Tensor g, int[] shape) {
        Tensor d = g.detach().to(DType.FLOAT64);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(d);
        Tensor out = on.empty(DType.FLOAT64, shape);
        int nd = d.dim();
        int[] m = new int[2 * nd];
        System.arraycopy(d.shape(), 0, m, 0, nd);
        Arrays.fill(m, nd, 2 * nd, 1);
        System.arraycopy(shape, 0, m, 2 * nd - shape.length, shape.length);
        if (out.numel() > 0) on.ops().sumToShapeF64(on.stream(), nd, out.numel(), on.buf(d), on.buf(out), m);
        return out.to(g.dtype());
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

    /**
     * {@code f(x)} for a tensor other than float32, as the CPU's {@code Pointwise.unary}: float64 in double, float16 and bfloat16 in
     * float; integers keep their dtype for neg, abs and relu (wrapping) and go through float32 for the rest; neg of bool is refused.
     */
    static Tensor unaryTyped(Pointwise.Unary fn, Tensor x) {
        DType type = x.dtype();
        String op = fn.name().toLowerCase(java.util.Locale.ROOT);
        if (!type.isFloatingPoint()) {
            if (type == DType.BOOL && fn == Pointwise.Unary.NEG) {
                throw new IllegalArgumentException("Negation, the `-` operator, on a bool tensor is not supported. If you are trying to "
                        + "invert a mask, use the `~` or `logical_not()` operator instead.");
            }
            if (!fn.keepsIntegers) return Pointwise.unary(fn, x.to(DType.DEFAULT_FLOAT));
        }
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        Tensor y = on.empty(type, x.shape());
        if (x.numel() > 0) on.ops().unaryTyped(on.stream(), typedCode(fn), mode(type), x.numel(), on.buf(x), et(type, op, x), on.buf(y), et(type, op, x));
        if (!type.isFloatingPoint()) return y;
        TypedUnaryBackward node = new TypedUnaryBackward(fn, x);
        Tensor out = Tensor.result((DeviceStorage) y.storage(), y.shape(), node);
        node.output = out.detach();
        return out;
    }

    /** The CPU's UnaryBackward for dtypes other than float32: dx = g * f'(x, y) in double, converted to x's dtype. */
    private static final class TypedUnaryBackward extends Node {
        private final Pointwise.Unary fn;
        Tensor output;

        TypedUnaryBackward(Pointwise.Unary fn, Tensor x) {
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
            Tensor x = inputs()[0];
            Tensor x64 = x.detach().to(DType.FLOAT64), y64 = output.to(DType.FLOAT64), g64 = grad.detach().to(DType.FLOAT64);
            DeviceLayers.On on = DeviceLayers.On.deviceOf(g64);
            Tensor dx = on.empty(DType.FLOAT64, x.shape());
            if (dx.numel() > 0) on.ops().unaryBackwardF64(on.stream(), typedCode(fn), dx.numel(), on.buf(x64), on.buf(y64), on.buf(g64), on.buf(dx));
            return new Tensor[] {dx.to(x.dtype())};
        }
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

    /**
     * {@code x op c} for a tensor other than float32, or a result other than float32, as the CPU's {@code Pointwise.scalar}: in the
     * result type's arithmetic (double, float with (float) c, or long with (long) c, wrapping); differentiable for floating x.
     */
    static Tensor scalarTyped(Pointwise.Scalar fn, Tensor x, double c, DType type) {
        String op = fn.name().toLowerCase(java.util.Locale.ROOT);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        Tensor y = on.empty(type, x.shape());
        if (x.numel() > 0) {
            on.ops().scalarTyped(on.stream(), code(fn), mode(type), x.numel(), on.buf(x), et(x.dtype(), op, x), on.buf(y), et(type, op, x), c, (long) c);
        }
        Node node = x.dtype().isFloatingPoint() ? new TypedScalarBackward(fn, x, c) : null;
        return Tensor.result((DeviceStorage) y.storage(), y.shape(), node);
    }

    /** {@code x op= c} on a device for a tensor other than float32: the result in {@code type}, written into x (Tensor checked the cast). */
    public static void scalarTypedInPlace(Pointwise.Scalar fn, Tensor x, double c, DType type) {
        DeviceTensors.copyInto(x, scalarTyped(fn, x.detach(), c, type));
    }

    /** The CPU's ScalarBackward for dtypes other than float32: dx = g * d(x op c)/dx in double, converted to x's dtype. */
    private static final class TypedScalarBackward extends Node {
        private final Pointwise.Scalar fn;
        private final double c;

        TypedScalarBackward(Pointwise.Scalar fn, Tensor x, double c) {
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
            Tensor x = inputs()[0];
            Tensor g64 = grad.detach().to(DType.FLOAT64);
            Tensor x64 = fn == Pointwise.Scalar.POW ? x.detach().to(DType.FLOAT64) : g64; // only pow reads x
            DeviceLayers.On on = DeviceLayers.On.deviceOf(g64);
            Tensor dx = on.empty(DType.FLOAT64, g64.shape());
            if (dx.numel() > 0) on.ops().scalarBackwardF64(on.stream(), code(fn), c, dx.numel(), on.buf(x64), on.buf(g64), on.buf(dx));
            return new Tensor[] {dx.to(x.dtype())};
        }
    }

    // ---- sums and means

    /** The whole tensor's sum (mean false) or mean, a scalar. */
    static Tensor sum(Tensor x, boolean mean) {
        if (!x.dtype().isFloatingPoint()) return sumIntegers(x, null, false, mean);
        if (x.dtype() != DType.FLOAT32) return sumDouble(x, null, false, mean);
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
        if (x.dtype() != DType.FLOAT32) return sumDouble(x, ax, keepdim, mean);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        float scale = mean ? 1f / ax.size() : 1f;
        int[] shape = keepdim ? ax.keptShape() : ax.reducedShape();
        Tensor out = on.empty(shape);
        if (out.numel() > 0) on.ops().sumDim(on.stream(), ax.outer(), ax.size(), ax.inner(), scale, on.buf(x), on.buf(out));
        return Tensor.result((DeviceStorage) out.storage(), shape, new SumBackward(x, ax, scale, mean ? "MeanBackward1" : "SumBackward1"));
    }

    /**
     * The sum or mean of a float64, float16 or bfloat16 tensor, whole (ax null) or along a dimension, as the CPU's
     * {@code Reduce.sumOther}: in double (float16 and bfloat16 converted to float64 first, exactly), the mean times
     * 1.0 / size, converted back to x's dtype. Along a dimension in the CPU's order (its bits); the whole tensor as one
     * block's tree ({@code sum_all_f64}: equal within double rounding). The backward is the CPU's: the gradient
     * expanded, times the scale, in x's dtype.
     */
    private static Tensor sumDouble(Tensor x, Reduce.Axis ax, boolean keepdim, boolean mean) {
        DType in = x.dtype();
        Tensor d = x.detach().to(DType.FLOAT64);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(d);
        Reduce.Axis axis = ax == null ? new Reduce.Axis(1, x.numel(), 1, new int[0], new int[0]) : ax;
        int[] shape = keepdim ? axis.keptShape() : axis.reducedShape();
        double scale = mean ? 1.0 / axis.size() : 1.0;
        Tensor out = on.empty(DType.FLOAT64, shape);
        if (ax == null) {
            on.ops().sumAllF64(on.stream(), x.numel(), on.buf(d), on.buf(out), scale);
        } else if (out.numel() > 0) {
            on.ops().sumDimF64(on.stream(), axis.outer(), axis.size(), axis.inner(), scale, on.buf(d), on.buf(out));
        }
        Tensor r = out.to(in);
        int[] kept = axis.keptShape(), inShape = x.shape();
        String name = (mean ? "MeanBackward" : "SumBackward") + (shape.length == 0 && kept.length == 0 ? "0" : "1");
        Node node = new Node.ReadsNoInputs(x) {
            @Override
            public String name() {
                return name;
            }

            @Override
            public Tensor[] backward(Tensor g) {
                int[] ones = new int[inShape.length];
                Arrays.fill(ones, 1);
                Tensor e = (kept.length == 0 ? g.reshape(ones) : g.reshape(kept)).expand(inShape);
                return new Tensor[] {e.mul(scale).to(in)};
            }
        };
        return Tensor.result((DeviceStorage) r.storage(), shape, node);
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
