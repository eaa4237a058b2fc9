package dev.phalanx.tensor;

import java.util.Arrays;

import dev.phalanx.autograd.Node;
import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.DeviceContexts;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.ElementType;
import dev.phalanx.kernels.device.KernelArgs;
import dev.phalanx.kernels.device.LaunchConfig;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.ops.Binary;
import dev.phalanx.ops.DeviceMath;
import dev.phalanx.ops.Pointwise;

/**
 * What {@link Tensor} does with device memory: moving between devices, copies, fills, gradient
 * accumulation ({@code add_}), and the buffers and outputs the device ops work on. Every
 * operation is enqueued on the device context's stream ({@link DeviceContext#stream()}); only
 * reads to the host wait.
 */
public final class DeviceTensors {

    private DeviceTensors() { }

    // ---- for the device ops

    /** The context of a device tensor's device. */
    public static DeviceContext context(Tensor t) {
        return storage(t).context();
    }

    /**
     * The device memory of {@code t}'s elements in row-major order, for work about to be enqueued on
     * {@code s}: the tensor's own range when it is contiguous, else a row-major copy's.
     */
    public static DeviceBuffer buffer(Tensor t, Stream s) {
        Tensor c = t.isContiguous() ? t : gather(t);
        DeviceStorage ds = storage(c);
        long size = c.dtype().bytes();
        return ds.use(s).slice(c.storageOffset() * size, c.numel() * size);
    }

    /**
     * The device memory a view spans, from its first element to its last in storage order (strides
     * and offset as the view's), for a kernel that walks the strides itself ({@code strided_copy}).
     */
    static DeviceBuffer viewBuffer(Tensor t, Stream s) {
        long size = t.dtype().bytes();
        return storage(t).use(s).slice(t.storageOffset() * size, extent(t) * size);
    }

    /** How many storage elements a view spans: its largest offset + 1, or 0 when it is empty. */
    static long extent(Tensor t) {
        if (t.numel() == 0) return 0;
        long e = 1;
        int[] shape = t.shape(), strides = t.stride();
        for (int d = 0; d < shape.length; d++) e += (long) (shape[d] - 1) * strides[d];
        return e;
    }

    /** What the device kernels call {@code t}'s dtype (every dtype has a code; {@code op} and {@code device} name a refusal, should one be added). */
    public static ElementType elementType(DType dtype, String op, Device device) {
        return switch (dtype) {
            case FLOAT64 -> ElementType.F64;
            case FLOAT32 -> ElementType.F32;
            case INT64 -> ElementType.I64;
            case INT32 -> ElementType.I32;
            case INT16 -> ElementType.I16;
            case INT8 -> ElementType.I8;
            case UINT8 -> ElementType.U8;
            case BOOL -> ElementType.BOOL;
            case FLOAT16 -> ElementType.F16;
            case BFLOAT16 -> ElementType.BF16;
        };
    }

    /**
     * A row-major copy of a device view on the same device, without autograd: one {@code strided_copy}
     * kernel (the gather behind {@code contiguous()}), nothing through the host.
     */
    static Tensor gather(Tensor t) {
        DeviceContext c = context(t);
        Stream s = c.stream();
        Tensor out = empty(c, t.dtype(), t.shape());
        if (t.numel() > 0) {
            c.ops().stridedCopy(s, t.shape(), t.stride(), Shapes.strides(t.shape()), t.dtype().bytes(), viewBuffer(t, s), buffer(out, s));
        }
        return out;
    }

    /** {@code t}'s elements converted to {@code target} on its device (the CPU's conversion rules), a new row-major storage. */
    public static DeviceStorage converted(Tensor t, DType target) {
        DeviceContext c = context(t);
        ElementType from = elementType(t.dtype(), "to(" + target.torchName() + ")", t.device());
        ElementType to = elementType(target, "to(" + target.torchName() + ")", t.device());
        Stream s = c.stream();
        DeviceStorage out = allocate(c, target, t.numel());
        if (t.numel() > 0) c.ops().convert(s, t.numel(), buffer(t, s), from, out.use(s), to);
        return out;
    }

    /** As {@link #buffer} for a tensor an op writes in place: a strided view (which would be written through a copy) is refused. */
    public static DeviceBuffer writableBuffer(Tensor t, Stream s, String op) {
        if (!t.isContiguous()) {
            throw new IllegalStateException(op + " on " + t.device() + " writes contiguous tensors only, got strides " + Shapes.str(t.stride()));
        }
        return buffer(t, s);
    }

    /** A new storage of {@code n} elements on {@code context}'s device, for an op's output on its stream (values undefined). */
    public static DeviceStorage allocate(DeviceContext context, DType dtype, int n) {
        return DeviceStorage.allocate(context, dtype, n, context.stream());
    }

    /** A new row-major device tensor, no autograd, values undefined. */
    public static Tensor empty(DeviceContext context, DType dtype, int... shape) {
        return Tensor.result(allocate(context, dtype, Shapes.numel(shape)), shape.clone(), null);
    }

    private static DeviceStorage storage(Tensor t) {
        if (!(t.storage() instanceof DeviceStorage ds)) throw new IllegalArgumentException("expected a device tensor, got one on " + t.device());
        return ds;
    }

    // ---- moving

    /** {@code t.to(target)} between two different devices. */
    static Tensor move(Tensor t, Device target) {
        Tensor out;
        if (target.isCpu()) {
            Tensor h = toHost(t, true);
            out = Tensor.result(t.dtype(), ((HostStorage) h.storage()).array(), t.shape(), new ToDeviceBackward(t));
        } else {
            DeviceContext context = DeviceContexts.of(target);
            Tensor h = t.device().isCpu() ? t : toHost(t, true);
            HostStorage whole = wholeHostStorage(h);
            out = Tensor.result(DeviceStorage.upload(context, whole), t.shape(), new ToDeviceBackward(t));
        }
        return out;
    }

    /** The host storage of a host tensor that is its whole storage row-major, else of a row-major copy. */
    private static HostStorage wholeHostStorage(Tensor h) {
        HostStorage s = (HostStorage) h.storage();
        boolean whole = h.storageOffset() == 0 && h.numel() == s.length() && h.isContiguous();
        return whole ? s : (HostStorage) h.detach().clone().storage();
    }

    /**
     * A host copy of device tensor {@code t}, without autograd. With {@code orderAfterLastUse} false
     * the copy skips waiting for the stream that last used the storage (the missing
     * synchronisation, for the test that must see it fail); everything else passes true.
     */
    static Tensor toHost(Tensor t, boolean orderAfterLastUse) {
        HostStorage h = storage(t).download(orderAfterLastUse);
        Tensor v = Tensor.over(h, t.shape(), t.stride(), t.storageOffset());
        boolean whole = v.storageOffset() == 0 && v.numel() == h.length() && v.isContiguous();
        return whole ? v : v.clone();
    }

    /** {@code to(device)}: the gradient goes back to the source's device. */
    private static final class ToDeviceBackward extends Node.ReadsNoInputs {
        private final Device from;

        ToDeviceBackward(Tensor x) {
            super(x);
            this.from = x.device();
        }

        @Override
        public String name() {
            return "ToCopyBackward0";
        }

        @Override
        public Tensor[] backward(Tensor g) {
            return new Tensor[] {g.to(from)};
        }
    }

    // ---- copies and fills

    /** A row-major copy on the same device; recorded for autograd as PyTorch's {@code CloneBackward0}. */
    static Tensor clone(Tensor t) {
        DeviceContext c = context(t);
        DeviceStorage out;
        if (t.isContiguous()) {
            Stream s = c.stream();
            out = allocate(c, t.dtype(), t.numel());
            long size = t.dtype().bytes();
            DeviceBuffer src = storage(t).use(s).slice(t.storageOffset() * size, t.numel() * size);
            if (t.numel() > 0) c.api().copyDeviceToDevice(src, out.use(s), src.bytes(), s);
        } else {
            out = (DeviceStorage) gather(t).storage(); // a strided view: gathered on the device
        }
        return Tensor.result(out, t.shape(), new CloneBackward(t));
    }

    private static final class CloneBackward extends Node.ReadsNoInputs {
        CloneBackward(Tensor x) {
            super(x);
        }

        @Override
        public String name() {
            return "CloneBackward0";
        }

        @Override
        public Tensor[] backward(Tensor g) {
            return new Tensor[] {g};
        }
    }

    /** {@code zeros/ones/full} of {@code shape} on a device. */
    static Tensor full(Device device, DType dtype, int[] shape, double value) {
        DeviceContext c = DeviceContexts.of(device);
        Tensor t = empty(c, dtype, shape);
        fill(t, value);
        return t;
    }

    /** {@code t.fill_(value)} for a device tensor: zero for every dtype, any value for float32; through the host otherwise. */
    static void fill(Tensor t, double value) {
        DeviceContext c = context(t);
        Stream s = c.stream();
        if (t.isContiguous() && t.numel() > 0 && (value == 0 || t.dtype() == DType.FLOAT32)) {
            DeviceBuffer b = buffer(t, s);
            if (value == 0) {
                c.api().fillZero(b, s);
            } else {
                c.ops().fill(s, t.numel(), (float) value, b);
            }
        } else if (t.numel() > 0) {
            copy(t, Tensor.full(value, t.dtype(), t.shape()));
        }
    }

    /**
     * {@code dst.copy_(src)} where either is on a device. On one device, src is converted
     * ({@code convert_dtype}) and broadcast into dst, which may be a view ({@code strided_copy});
     * from the host or another device it is staged as dst's row-major twin first.
     */
    static void copy(Tensor dst, Tensor src) {
        if (dst.device().isCpu()) { // device to host
            try (var ignored = dev.phalanx.autograd.GradMode.noGrad()) {
                dst.copy_(toHost(src, true));
            }
            return;
        }
        if (src.device().isCpu() || !src.device().equals(dst.device())) { // from the host or another device: stage it as dst's row-major twin
            Tensor h = src.device().isCpu() ? src : toHost(src, true);
            if (h.dtype() != dst.dtype() || !Arrays.equals(h.shape(), dst.shape())) {
                Tensor conv = Tensor.zeros(dst.dtype(), dst.shape());
                try (var ignored = dev.phalanx.autograd.GradMode.noGrad()) {
                    conv.copy_(h);
                }
                h = conv;
            }
            src = Tensor.result(DeviceStorage.upload(context(dst), wholeHostStorage(h)), dst.shape(), null);
        }
        DeviceContext c = context(dst);
        Stream s = c.stream();
        if (src.dtype() != dst.dtype()) { // converted on the device first (a row-major tensor of src's shape)
            src = Tensor.result(converted(src, dst.dtype()), src.shape(), null);
        }
        if (dst.numel() == 0) return;
        if (src.storage() == dst.storage()) src = gather(src); // the ranges may overlap: read everything before writing
        if (Arrays.equals(src.shape(), dst.shape()) && src.isContiguous() && dst.isContiguous()) {
            DeviceBuffer from = buffer(src, s), to = buffer(dst, s);
            c.api().copyDeviceToDevice(from, to, from.bytes(), s);
            return;
        }
        // a broadcast source (stride 0) or a view on either side (cat's slices, a gradient into a view of zeros): one kernel
        int[] srcStrides = Shapes.broadcastStridesOf(src.shape(), src.stride(), dst.shape());
        c.ops().stridedCopy(s, dst.shape(), srcStrides, dst.stride(), dst.dtype().bytes(), viewBuffer(src, s), viewBuffer(dst, s));
    }

    /** {@code dst.copy_(src)} on a device without autograd or a version bump: an op's result written into a view of its input. */
    public static void copyInto(Tensor dst, Tensor src) {
        copy(dst, src);
    }

    /**
     * {@code a op= b} on a device: float32 add_ and sub_ of one shape through axpy (gradient
     * accumulation, the hot case); every other float32 case, broadcast b included, through
     * {@link DeviceMath#binaryInPlace}; other dtypes as the CPU's {@code Tensor.inPlace}: a whole
     * float32 tensor reads b as floats (its float loop), anything else takes {@code a op b} in the
     * promoted type, written into a.
     */
    static void inPlace(Binary.Fn fn, Tensor a, Tensor b) {
        Tensor.checkSameDevice(fn.name().toLowerCase(java.util.Locale.ROOT) + "_", a, b);
        if (a.dtype() != DType.FLOAT32 || b.dtype() != DType.FLOAT32) {
            if (a.dtype() == DType.FLOAT32 && isWhole(a)) {
                DeviceMath.binaryInPlace(fn, a, b.detach().to(DType.FLOAT32));
            } else {
                DType type = DType.resultType(a, b);
                if (fn == Binary.Fn.DIV && !type.isFloatingPoint()) type = DType.DEFAULT_FLOAT;
                DeviceMath.typedInPlace(fn, a, b, type);
            }
            return;
        }
        if ((fn != Binary.Fn.ADD && fn != Binary.Fn.SUB) || !Arrays.equals(a.shape(), b.shape()) || !a.isContiguous()) {
            DeviceMath.binaryInPlace(fn, a, b);
            return;
        }
        DeviceContext c = context(a);
        Stream s = c.stream();
        c.ops().axpy(s, a.numel(), fn == Binary.Fn.ADD ? 1f : -1f, buffer(b, s), buffer(a, s));
    }

    /** Row-major, offset 0, covering its whole storage: where the CPU's in-place ops take their whole-array loops. */
    private static boolean isWhole(Tensor t) {
        return t.storageOffset() == 0 && t.numel() == t.storage().length() && t.isContiguous();
    }

    /**
     * {@code t.mul_(c)} on a device: float32 (a view through {@link DeviceMath#scalarInPlace}, written through its strides), other
     * dtypes as the CPU's {@code writeFrom(mul(c))}.
     */
    static void mulScalar(Tensor t, float k) {
        if (t.dtype() != DType.FLOAT32) {
            DeviceMath.scalarTypedInPlace(Pointwise.Scalar.MUL, t, k, DType.resultType(t.dtype(), DType.Category.FLOATING));
            return;
        }
        if (!t.isContiguous()) {
            DeviceMath.scalarInPlace(Pointwise.Scalar.MUL, t, k);
            return;
        }
        requireFloat32Contiguous("mul_", t);
        DeviceContext c = context(t);
        Stream s = c.stream();
        c.api().launch(s, "scale_f32", LaunchConfig.linear(t.numel()), KernelArgs.of().ptr(buffer(t, s)).f32(k).i64(t.numel()));
    }

    /**
     * {@code t.add_(c)} for a Java long on a device: contiguous int64 through add_i64 (wrapping), float32 as {@code add_((float) c)},
     * other dtypes as the CPU's {@code writeFrom(add(c))}.
     */
    static void addLong(Tensor t, long k) {
        if (t.dtype() == DType.INT64 && t.isContiguous()) {
            DeviceContext c = context(t);
            Stream s = c.stream();
            if (t.numel() > 0) c.ops().addLong(s, t.numel(), k, buffer(t, s));
        } else if (t.dtype() == DType.FLOAT32) {
            DeviceMath.scalarInPlace(Pointwise.Scalar.ADD, t, k);
        } else {
            DeviceMath.scalarTypedInPlace(Pointwise.Scalar.ADD, t, k, DType.resultType(t.dtype(), DType.Category.INTEGER));
        }
    }

    /** {@code t.add_(c)} on a device: float32 through {@link DeviceMath#scalarInPlace}, other dtypes as the CPU's {@code writeFrom(add(c))}. */
    static void addScalar(Tensor t, float k) {
        if (t.dtype() == DType.FLOAT32) DeviceMath.scalarInPlace(Pointwise.Scalar.ADD, t, k);
        else DeviceMath.scalarTypedInPlace(Pointwise.Scalar.ADD, t, k, DType.resultType(t.dtype(), DType.Category.FLOATING));
    }

    private static void requireFloat32Contiguous(String op, Tensor t) {
        if (t.dtype() != DType.FLOAT32 || !t.isContiguous()) {
            throw new IllegalStateException(op + " on " + t.device() + " is built for contiguous float32 tensors only (got " + t.dtype().torchName()
                    + ", " + (t.isContiguous() ? "contiguous" : "strided") + "); do it on the cpu");
        }
    }
}
