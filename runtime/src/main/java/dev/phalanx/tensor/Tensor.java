package dev.phalanx.tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import dev.phalanx.autograd.AccumulateGrad;
import dev.phalanx.autograd.Backward;
import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Node;
import dev.phalanx.autograd.Warnings;
import dev.phalanx.kernels.Device;
import dev.phalanx.ops.Binary;
import dev.phalanx.ops.Compare;
import dev.phalanx.ops.MatMul;
import dev.phalanx.ops.Pointwise;
import dev.phalanx.ops.Reduce;
import dev.phalanx.ops.ShapeOps;

/**
 * An n-dimensional strided view of a {@link Storage}, with the autograd fields PyTorch users
 * know: {@code requiresGrad}, {@code grad}, {@code gradFn}. Element {@code [i0, i1, ...]} lives
 * at {@code storageOffset + Σ i_d·strides[d]} of the storage, as in PyTorch.
 *
 * <p>{@code select}, {@code slice}, {@code narrow}, {@code t}, {@code transpose}, {@code permute},
 * {@code expand}, {@code unsqueeze}, {@code squeeze} and {@code view} return views sharing this
 * tensor's storage: writes through them reach this tensor. {@link #data()} hands out the backing
 * array itself, without a copy (the blitz's NumPy bridge: {@code a.numpy()} shares memory with
 * {@code a}), when the tensor is its whole storage in row-major order; any other tensor raises
 * an error that says what to call instead.
 */
public final class Tensor {

    // Not final: Module.to(device) moves a parameter in place (PyTorch's param.data = ...), see setData.
    private Storage storage;
    /** The storage when it is host memory, else null: the CPU ops' arrays without a cast. */
    private HostStorage host;
    private DType dtype; // not final: Module.to(dtype) converts a parameter in place (setData)
    private final int[] shape;
    private int[] strides;
    private int offset;
    /** Row-major, offset 0, covering the whole storage: the tensor {@link #data()} may hand out. */
    private boolean whole;
    private Device device;

    private boolean requiresGrad;
    private Tensor grad;
    private Node gradFn;
    private boolean retainsGrad;
    private AccumulateGrad gradAccumulator;

    private Tensor(Storage storage, int[] shape, int[] strides, int offset) {
        this.dtype = storage.dtype();
        this.shape = shape;
        point(storage, strides, offset);
    }

    /** Points this tensor at (storage, strides, offset); the shape and dtype stay. */
    private void point(Storage storage, int[] strides, int offset) {
        this.storage = storage;
        this.host = storage instanceof HostStorage h ? h : null;
        this.device = host != null ? Device.CPU : ((DeviceStorage) storage).device();
        this.strides = strides;
        this.offset = offset;
        this.whole = offset == 0 && Shapes.numel(shape) == storage.length() && Strided.isContiguous(shape, strides);
    }

    /**
     * The host storage, for code that reads or writes Java arrays; a tensor in device memory
     * raises an error naming its device and what to call instead.
     */
    private HostStorage host(String what) {
        if (host != null) return host;
        throw new IllegalStateException(what + ": this tensor is in " + device + "'s memory, which Java code cannot read directly; call "
                + "to(Device.CPU) for a host copy");
    }

    /** For the CPU ops' arrays: a device tensor here means an op without a device kernel got it. */
    private HostStorage host() {
        if (host != null) return host;
        throw new IllegalStateException("this op has no " + device + " kernel yet and got a tensor in " + device + "'s memory; move its "
                + "inputs with to(Device.CPU) to run it on the cpu");
    }

    /** A row-major tensor over a whole storage of exactly numel(shape) elements. */
    private static Tensor dense(Storage storage, int[] shape) {
        int n = Shapes.numel(shape);
        if (storage.length() != n) {
            throw new IllegalArgumentException("data of " + storage.length() + " elements cannot have shape " + Shapes.str(shape) + " (" + n + " elements)");
        }
        return new Tensor(storage, shape, Shapes.strides(shape), 0);
    }

    // ---------------------------------------------------------------- creation

    /** A float32 tensor over {@code data} itself (no copy). */
    public static Tensor of(float[] data, int... shape) {
        return dense(HostStorage.wrap(DType.FLOAT32, data), shape.clone());
    }

    /**
     * A gradient that a backward function returns, over an array it took from the backend's
     * buffer pool in this call and handed to nothing else: the autograd engine gives the array
     * back to the pool when no gradient it holds refers to it any more. For op classes' backward
     * functions only; never for a tensor user code can see.
     */
    public static Tensor pooledGradient(float[] data, int... shape) {
        return dense(HostStorage.pooled(data), shape.clone());
    }

    /** A 1-d float32 tensor of these values. */
    public static Tensor of(float... data) {
        return of(data, data.length);
    }

    public static Tensor of(float[][] rows) {
        int r = rows.length, c = r == 0 ? 0 : rows[0].length;
        float[] d = new float[r * c];
        for (int i = 0; i < r; i++) {
            if (rows[i].length != c) {
                throw new IllegalArgumentException("expected sequence of length " + c + " at dim 1 (got " + rows[i].length + ") in row " + i);
            }
            System.arraycopy(rows[i], 0, d, i * c, c);
        }
        return of(d, r, c);
    }

    /**
     * A tensor of {@code dtype} over {@code array} itself (no copy). The array's Java type is the
     * one the dtype is stored in: {@code double[]} for float64, {@code short[]} for float16,
     * bfloat16 (their bits) and int16, {@code byte[]} for int8, uint8 and bool, and so on.
     */
    public static Tensor of(DType dtype, Object array, int... shape) {
        return dense(HostStorage.wrap(dtype, array), shape.clone());
    }

    /** An int64 tensor over {@code data} itself (no copy). */
    public static Tensor ofLongs(long[] data, int... shape) {
        return of(DType.INT64, data, shape);
    }

    public static Tensor ofLongs(long... data) {
        return ofLongs(data, data.length);
    }

    public static Tensor scalar(float value) {
        return of(new float[] {value}, new int[0]);
    }

    public static Tensor zeros(int... shape) {
        return zeros(DType.FLOAT32, shape);
    }

    public static Tensor zeros(DType dtype, int... shape) {
        return dense(HostStorage.allocate(dtype, Shapes.numel(shape)), shape.clone());
    }

    public static Tensor ones(int... shape) {
        return full(1f, shape);
    }

    public static Tensor ones(DType dtype, int... shape) {
        return zeros(dtype, shape).fill_(1);
    }

    /** A tensor of {@code dtype} filled with {@code value} (converted as {@code fill_} converts). */
    public static Tensor full(double value, DType dtype, int... shape) {
        return zeros(dtype, shape).fill_(value);
    }

    /** A 1-d float64 tensor of these values (a copy). */
    public static Tensor ofDoubles(double... data) {
        return of(DType.FLOAT64, data.clone(), data.length);
    }

    /** A 1-d int32 tensor of these values (a copy). */
    public static Tensor ofInts(int... data) {
        return of(DType.INT32, data.clone(), data.length);
    }

    /** A 1-d bool tensor of these values. */
    public static Tensor ofBools(boolean... data) {
        byte[] b = new byte[data.length];
        for (int i = 0; i < b.length; i++) b[i] = (byte) (data[i] ? 1 : 0);
        return of(DType.BOOL, b, b.length);
    }

    public static Tensor full(float value, int... shape) {
        float[] d = new float[Shapes.numel(shape)];
        Arrays.fill(d, value);
        return of(d, shape);
    }

    /** Zeros of {@code shape} and {@code dtype} on {@code device} (device memory filled on the device). */
    public static Tensor zeros(Device device, DType dtype, int... shape) {
        return device.isCpu() ? zeros(dtype, shape) : DeviceTensors.full(device, dtype, shape.clone(), 0);
    }

    public static Tensor zerosLike(Tensor t) {
        return t.host == null ? DeviceTensors.full(t.device, t.dtype, t.shape, 0) : zeros(t.dtype, t.shape);
    }

    public static Tensor zerosLike(Tensor t, DType dtype) {
        return zeros(dtype, t.shape);
    }

    public static Tensor onesLike(Tensor t) {
        return t.host == null ? DeviceTensors.full(t.device, t.dtype, t.shape, 1) : zeros(t.dtype, t.shape).fill_(1);
    }

    public static Tensor onesLike(Tensor t, DType dtype) {
        return zeros(dtype, t.shape).fill_(1);
    }

    /** Standard normal of t's shape and dtype, from this thread's default generator ({@code torch.randn_like}). */
    public static Tensor randnLike(Tensor t) {
        return randnLike(t, t.dtype);
    }

    /** {@code torch.randn_like(t, dtype=...)}. */
    public static Tensor randnLike(Tensor t, DType dtype) {
        return randn(t.shape).to(dtype);
    }

    /** Uniform on [0, 1) of t's shape and dtype ({@code torch.rand_like}). */
    public static Tensor randLike(Tensor t) {
        return rand(t.shape).to(t.dtype);
    }

    /**
     * {@code torch.empty}: a tensor whose values the caller will overwrite. Java arrays start
     * zeroed, so it holds zeros (PyTorch leaves whatever memory held).
     */
    public static Tensor empty(int... shape) {
        return zeros(shape);
    }

    public static Tensor empty(DType dtype, int... shape) {
        return zeros(dtype, shape);
    }

    /** {@code x.new_ones(shape)}: ones with this tensor's dtype (and device). */
    public Tensor newOnes(int... shape) {
        return ones(dtype, shape);
    }

    /** {@code x.new_ones(shape, dtype=...)}. */
    public Tensor newOnes(DType dtype, int... shape) {
        return ones(dtype, shape);
    }

    /** {@code x.new_zeros(shape)}. */
    public Tensor newZeros(int... shape) {
        return zeros(dtype, shape);
    }

    /** Uniform on [0, 1), from this thread's default generator ({@code Phalanx.manualSeed} seeds it). */
    public static Tensor rand(int... shape) {
        return rand(Generator.defaultGenerator(), shape);
    }

    /** Standard normal, from this thread's default generator. */
    public static Tensor randn(int... shape) {
        return randn(Generator.defaultGenerator(), shape);
    }

    /** Uniform int64 in [low, high), from this thread's default generator. */
    public static Tensor randint(long low, long high, int... shape) {
        return randint(Generator.defaultGenerator(), low, high, shape);
    }

    /** Uniform on [0, 1). */
    public static Tensor rand(Generator gen, int... shape) {
        float[] d = new float[Shapes.numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = gen.nextFloat();
        return of(d, shape);
    }

    /** Standard normal. */
    public static Tensor randn(Generator gen, int... shape) {
        float[] d = new float[Shapes.numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = gen.nextGaussian();
        return of(d, shape);
    }

    /** Uniform int64 in [low, high). */
    public static Tensor randint(Generator gen, long low, long high, int... shape) {
        if (high <= low) throw new IllegalArgumentException("randint: expected low < high, got [" + low + ", " + high + ")");
        long[] d = new long[Shapes.numel(shape)];
        for (int i = 0; i < d.length; i++) d[i] = low + gen.nextInt((int) (high - low));
        return ofLongs(d, shape);
    }

    public static Tensor arange(int end) {
        return arange(0, end, 1);
    }

    /** float32 values start, start+step, ... below end. */
    public static Tensor arange(float start, float end, float step) {
        if (step == 0 || (end - start) / step < 0) {
            throw new IllegalArgumentException("arange: upper bound and larger bound inconsistent with step sign (start " + start
                    + ", end " + end + ", step " + step + ")");
        }
        int n = (int) Math.ceil((end - start) / step);
        float[] d = new float[n];
        for (int i = 0; i < n; i++) d[i] = start + i * step;
        return of(d, n);
    }

    public static Tensor eye(int n) {
        Tensor t = zeros(n, n);
        for (int i = 0; i < n; i++) t.host.floats()[i * n + i] = 1f;
        return t;
    }

    // ---------------------------------------------------------------- metadata

    public DType dtype() { return dtype; }
    public Device device() { return device; }
    public int[] shape() { return shape.clone(); }
    public int dim() { return shape.length; }
    public int numel() { return Shapes.numel(shape); }

    /** The shape as PyTorch's {@code torch.Size}, which prints {@code torch.Size([5, 3])}. */
    public Size size() { return new Size(shape); }

    public int size(int dim) {
        return shape[Shapes.wrapDim("size", dim, shape.length)];
    }

    /** Steps in elements between neighbours along each dimension, as PyTorch's {@code stride()}. */
    public int[] stride() { return strides.clone(); }

    public int stride(int dim) {
        return strides[Shapes.wrapDim("stride", dim, shape.length)];
    }

    /** Where element [0, 0, ...] sits in the storage. */
    public int storageOffset() { return offset; }

    /** The buffer this tensor views; shared with every view of it. */
    public Storage storage() { return storage; }

    /** Row-major strides (the offset may be anything), as PyTorch's {@code is_contiguous()}. */
    public boolean isContiguous() {
        return whole || Strided.isContiguous(shape, strides);
    }

    // ---------------------------------------------------------------- the raw buffer (the NumPy bridge)

    /** The float32 backing array itself: writes to it change the tensor (the "NumPy bridge"). */
    public float[] data() {
        checkBridge("data()", DType.FLOAT32);
        return host.floats();
    }

    /** The float64 backing array itself. */
    public double[] doubleData() {
        checkBridge("doubleData()", DType.FLOAT64);
        return host.doubles();
    }

    /** The int64 backing array itself. */
    public long[] longData() {
        checkBridge("longData()", DType.INT64);
        return host.longs();
    }

    /** The int32 backing array itself. */
    public int[] intData() {
        checkBridge("intData()", DType.INT32);
        return host.ints();
    }

    /** The backing array of an int16, float16 or bfloat16 tensor (the latter two as their bits). */
    public short[] shortData() {
        checkBridge("shortData()", DType.INT16, DType.FLOAT16, DType.BFLOAT16);
        return host.shorts();
    }

    /** The backing array of an int8, uint8 or bool tensor (bool as 0 and 1). */
    public byte[] byteData() {
        checkBridge("byteData()", DType.INT8, DType.UINT8, DType.BOOL);
        return host.bytes();
    }

    private void checkBridge(String accessor, DType... accepted) {
        if (host == null) {
            throw new IllegalStateException(accessor + ": this tensor is in " + device + "'s memory, which has no Java array to share; call "
                    + "to(Device.CPU)." + accessor + " for a host copy");
        }
        boolean ok = false;
        for (DType d : accepted) ok |= d == dtype;
        if (!ok) {
            throw new IllegalStateException(accessor + ": this tensor is " + dtype.torchName() + "; use " + bridgeName(dtype)
                    + ", or to(DType." + accepted[0].name() + ")." + accessor + " for a converted copy");
        }
        if (!whole) {
            String what = "shape " + Shapes.str(shape) + ", strides " + Shapes.str(strides) + ", offset " + offset + " into a storage of "
                    + storage.length() + " elements";
            throw new IllegalStateException(accessor + ": this tensor is a view (" + what + ") and its elements are not its whole backing "
                    + "array in row-major order; call " + (isContiguous() ? "clone()" : "contiguous()") + " first for a copy that is");
        }
    }

    private static String bridgeName(DType d) {
        return switch (d) {
            case FLOAT32 -> "data()";
            case FLOAT64 -> "doubleData()";
            case INT64 -> "longData()";
            case INT32 -> "intData()";
            case INT16, FLOAT16, BFLOAT16 -> "shortData()";
            case INT8, UINT8, BOOL -> "byteData()";
        };
    }

    /**
     * The elements in row-major order as one float32 array starting at index 0: the backing array
     * itself when this float32 tensor is its whole storage (no copy), else a new array, converted
     * from this tensor's dtype. For op classes, which hand arrays to kernels; read it, never write it.
     */
    public float[] contiguousFloats() {
        if (whole && dtype == DType.FLOAT32) return host().floats();
        if (dtype == DType.FLOAT32) return (float[]) contiguousArray();
        HostStorage storage = host();
        float[] out = new float[numel()];
        int[] idx = Strided.indices(shape, strides, offset);
        for (int i = 0; i < out.length; i++) out[i] = (float) storage.getDouble(idx[i]);
        return out;
    }

    /** As {@link #contiguousFloats()}, in float64. */
    public double[] contiguousDoubles() {
        if (dtype == DType.FLOAT64) return (double[]) contiguousArray();
        HostStorage storage = host();
        double[] out = new double[numel()];
        int[] idx = Strided.indices(shape, strides, offset);
        for (int i = 0; i < out.length; i++) out[i] = storage.getDouble(idx[i]);
        return out;
    }

    /** As {@link #contiguousFloats()}, in int64 (floats truncated toward zero). */
    public long[] contiguousLongs() {
        if (dtype == DType.INT64) return (long[]) contiguousArray();
        HostStorage storage = host();
        long[] out = new long[numel()];
        int[] idx = Strided.indices(shape, strides, offset);
        for (int i = 0; i < out.length; i++) out[i] = storage.getLong(idx[i]);
        return out;
    }

    /** The row-major elements in this dtype's own array type: the backing array when whole, else a copy. */
    private Object contiguousArray() {
        HostStorage storage = host();
        if (whole) return storage.array();
        int n = numel();
        if (Strided.isContiguous(shape, strides)) { // a contiguous slice: one block copy
            HostStorage dst = HostStorage.allocate(dtype, n);
            System.arraycopy(storage.array(), offset, dst.array(), 0, n);
            return dst.array();
        }
        return Strided.gather(storage, Strided.indices(shape, strides, offset));
    }

    // ---------------------------------------------------------------- elements

    /**
     * The value of a one-element tensor, as PyTorch's {@code item()}, as a Java {@code float}:
     * exact for float32, float16, bfloat16 and every value a float holds exactly; any other value
     * raises an error naming the accessor that is exact ({@link #longItem()}, {@link #doubleItem()}),
     * rather than rounding it silently.
     */
    public float item() {
        if (host == null) return toHost().item();
        HostStorage storage = host;
        int at = oneElement();
        if (dtype.isFloatingPoint()) {
            double v = storage.getDouble(at);
            float f = (float) v;
            if (dtype != DType.FLOAT64 || f == v || Double.isNaN(v)) return f;
            throw new IllegalStateException("item(): the float64 value " + v + " is not exactly a float; use doubleItem()");
        }
        long v = storage.getLong(at);
        float f = v;
        if ((long) f == v && Math.abs(v) <= (1L << 24)) return f;
        throw new IllegalStateException("item(): the " + dtype.torchName() + " value " + v + " is not exactly a float; use longItem()");
    }

    /** The exact value of a one-element integer or bool tensor (floats truncated toward zero). */
    public long longItem() {
        if (host == null) return toHost().longItem();
        return host.getLong(oneElement());
    }

    /** The value of a one-element tensor as a double: exact for every dtype but int64 beyond 2^53. */
    public double doubleItem() {
        if (host == null) return toHost().doubleItem();
        return host.getDouble(oneElement());
    }

    /** The value of a one-element tensor as a boolean: anything non-zero is true. */
    public boolean boolItem() {
        if (host == null) return toHost().boolItem();
        return host.getDouble(oneElement()) != 0;
    }

    private int oneElement() {
        int n = numel();
        if (n != 1) throw new IllegalStateException("a Tensor with " + n + " elements cannot be converted to Scalar");
        return offset;
    }

    /** One element; on a device this copies the tensor to the host first (read many elements through {@code to(Device.CPU)}). */
    public float get(int... index) {
        if (host == null) return toHost().get(index);
        return (float) host.getDouble(storageIndex(index));
    }

    public long getLong(int... index) {
        if (host == null) return toHost().getLong(index);
        return host.getLong(storageIndex(index));
    }

    public double getDouble(int... index) {
        if (host == null) return toHost().getDouble(index);
        return host.getDouble(storageIndex(index));
    }

    /** Writes one element in place ({@code t[i, j] = v}). */
    public Tensor set(float value, int... index) {
        checkInPlace("set");
        host("set").setDouble(storageIndex(index), value);
        storage.bumpVersion();
        return this;
    }

    private int storageIndex(int[] index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("index of " + index.length + " dimensions into a tensor of shape " + Shapes.str(shape));
        }
        int at = offset;
        for (int d = 0; d < shape.length; d++) {
            int i = index[d] < 0 ? index[d] + shape[d] : index[d];
            if (i < 0 || i >= shape[d]) {
                throw new IndexOutOfBoundsException("index " + index[d] + " is out of bounds for dimension " + d + " with size " + shape[d]);
            }
            at += i * strides[d];
        }
        return at;
    }

    // ---------------------------------------------------------------- autograd

    public boolean requiresGrad() { return requiresGrad; }

    /** Sets requires_grad on a leaf, like PyTorch's {@code requires_grad_()}; returns this. */
    public Tensor requiresGrad(boolean value) {
        if (gradFn != null && !value) {
            throw new IllegalStateException("you can only change requires_grad flags of leaf variables; use detach()");
        }
        if (value && !dtype.isFloatingPoint()) {
            throw new IllegalStateException("only Tensors of floating point dtype can require gradients (this one is " + dtype.torchName() + ")");
        }
        requiresGrad = value;
        return this;
    }

    /**
     * The gradient accumulated by backward. On a non-leaf it is null unless {@link #retainGrad()}
     * was called, and reading it warns once, as PyTorch does.
     */
    public Tensor grad() {
        if (gradFn != null && !retainsGrad) {
            Warnings.warnOnce("non-leaf grad", "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
                    + "attribute won't be populated during autograd.backward(). If you indeed want the .grad field to be populated for a "
                    + "non-leaf Tensor, use .retainGrad() on the non-leaf Tensor. If you access the non-leaf Tensor by mistake, make sure "
                    + "you access the leaf Tensor instead.");
        }
        return grad;
    }

    /** The gradient of a non-leaf that {@link #retainGrad() retains} it, without the warning; for the autograd engine. */
    public Tensor retainedGrad() {
        return grad;
    }

    /** Keeps this non-leaf's gradient in {@link #grad()} at the next backward, as PyTorch's {@code retain_grad()}. */
    public Tensor retainGrad() {
        if (!requiresGrad) throw new IllegalStateException("can't retain_grad on Tensor that has requires_grad=False");
        if (gradFn != null) retainsGrad = true;
        return this;
    }

    public boolean retainsGrad() { return retainsGrad; }

    /** The {@link AccumulateGrad} node of a leaf that requires grad (one per leaf), as seen in {@code next_functions}. */
    public AccumulateGrad gradAccumulator() {
        if (gradFn != null || !requiresGrad) return null;
        if (gradAccumulator == null) gradAccumulator = new AccumulateGrad(this);
        return gradAccumulator;
    }

    public void setGrad(Tensor g) {
        if (g != null && !Arrays.equals(g.shape, shape)) {
            throw new IllegalArgumentException("assigned grad has shape " + Shapes.str(g.shape) + " but the tensor has shape " + Shapes.str(shape));
        }
        grad = g;
    }

    public Node gradFn() { return gradFn; }

    public boolean isLeaf() { return gradFn == null; }

    /** Zeroes {@code .grad} in place, if there is one. */
    public void zeroGrad() {
        if (grad != null) grad.zero_();
    }

    /** Backpropagates from this one-element tensor (the loss). */
    public void backward() {
        Backward.run(this, null);
    }

    /** Backpropagates with an explicit upstream gradient, for non-scalar outputs. */
    public void backward(Tensor gradient) {
        Backward.run(this, gradient);
    }

    /**
     * As PyTorch's {@code backward(gradient, retain_graph)}: {@code gradient} may be null for a
     * one-element tensor; with {@code retainGraph} the graph may be walked again.
     */
    public void backward(Tensor gradient, boolean retainGraph) {
        Backward.run(this, gradient, retainGraph);
    }

    /** A tensor sharing this one's storage, cut off from the graph. */
    public Tensor detach() {
        return new Tensor(storage, shape, strides, offset);
    }

    /** A row-major copy in a storage of its own; recorded for autograd like PyTorch's {@code clone()}. */
    public Tensor clone() {
        if (host == null) return DeviceTensors.clone(this);
        return ShapeOps.clone(this);
    }

    /** This tensor when its strides are row-major, else a row-major copy ({@link #clone()}). */
    public Tensor contiguous() {
        return isContiguous() ? this : clone();
    }

    /**
     * Makes a tensor produced by an op: records {@code node} when grad mode is on and any input
     * requires grad. Used by the op classes; users never need it.
     */
    public static Tensor result(float[] data, int[] shape, Node node) {
        return attach(dense(HostStorage.wrap(DType.FLOAT32, data), shape), node);
    }

    /** As {@link #result(float[], int[], Node)} for any dtype's array. */
    public static Tensor result(DType dtype, Object array, int[] shape, Node node) {
        return attach(dense(HostStorage.wrap(dtype, array), shape), node);
    }

    /** As {@link #result(float[], int[], Node)} for a row-major tensor over a whole device storage (the device ops' outputs). */
    public static Tensor result(DeviceStorage storage, int[] shape, Node node) {
        return attach(dense(storage, shape), node);
    }

    /** A row-major tensor over {@code storage}, for DeviceTensors. */
    static Tensor over(Storage storage, int[] shape, int[] strides, int offset) {
        return new Tensor(storage, shape, strides, offset);
    }

    /**
     * A view of {@code base}'s storage with its own shape, strides and offset, recording
     * {@code node} as {@link #result} does. Used by the view ops.
     */
    public static Tensor view(Tensor base, int[] shape, int[] strides, int offset, Node node) {
        return attach(new Tensor(base.storage, shape, strides, offset), node);
    }

    private static Tensor attach(Tensor t, Node node) {
        if (node != null && GradMode.isEnabled()) {
            for (Tensor in : node.inputs()) {
                if (in != null && in.requiresGrad) {
                    t.requiresGrad = true;
                    t.gradFn = node;
                    node.recordOutput(t);
                    break;
                }
            }
        }
        return t;
    }

    // ---------------------------------------------------------------- arithmetic (broadcasting)

    public Tensor add(Tensor other) { return Binary.apply(Binary.Fn.ADD, this, other); }
    public Tensor sub(Tensor other) { return Binary.apply(Binary.Fn.SUB, this, other); }
    public Tensor mul(Tensor other) { return Binary.apply(Binary.Fn.MUL, this, other); }
    public Tensor div(Tensor other) { return Binary.apply(Binary.Fn.DIV, this, other); }

    /** {@code torch.add(a, b, out=out)}: a + b written into {@code out} (which must have the broadcast shape); returns out. */
    public static Tensor add(Tensor a, Tensor b, Tensor out) { return out.copy_(a.add(b)); }

    /**
     * {@code this + c}. A Java {@code float} or {@code double} scalar counts as a Python float (an
     * integer tensor gives float32), a {@code long} or {@code int} as a Python int (an integer
     * tensor keeps its dtype and wraps on overflow), as in PyTorch.
     */
    public Tensor add(float c) { return Pointwise.scalar(Pointwise.Scalar.ADD, this, c); }
    public Tensor add(double c) { return Pointwise.scalar(Pointwise.Scalar.ADD, this, c, DType.Category.FLOATING); }
    public Tensor add(long c) { return Pointwise.scalar(Pointwise.Scalar.ADD, this, c, DType.Category.INTEGER); }
    public Tensor sub(double c) { return Pointwise.scalar(Pointwise.Scalar.ADD, this, -c, DType.Category.FLOATING); }
    public Tensor sub(long c) { return Pointwise.scalar(Pointwise.Scalar.ADD, this, -c, DType.Category.INTEGER); }
    public Tensor mul(double c) { return Pointwise.scalar(Pointwise.Scalar.MUL, this, c, DType.Category.FLOATING); }
    public Tensor mul(long c) { return Pointwise.scalar(Pointwise.Scalar.MUL, this, c, DType.Category.INTEGER); }
    /** True division: an integer tensor gives float32. */
    public Tensor div(double c) { return Pointwise.scalar(Pointwise.Scalar.MUL, this, 1 / c, DType.Category.FLOATING); }
    public Tensor div(long c) { return div((double) c); }
    public Tensor sub(float c) { return Pointwise.scalar(Pointwise.Scalar.ADD, this, -c); }
    public Tensor mul(float c) { return Pointwise.scalar(Pointwise.Scalar.MUL, this, c); }
    public Tensor div(float c) { return Pointwise.scalar(Pointwise.Scalar.MUL, this, 1f / c); }
    public Tensor pow(float exponent) { return Pointwise.scalar(Pointwise.Scalar.POW, this, exponent); }
    /** {@code c - this}. */
    public Tensor rsub(float c) { return Pointwise.scalar(Pointwise.Scalar.RSUB, this, c); }

    public Tensor neg() { return Pointwise.unary(Pointwise.Unary.NEG, this); }
    public Tensor exp() { return Pointwise.unary(Pointwise.Unary.EXP, this); }
    public Tensor log() { return Pointwise.unary(Pointwise.Unary.LOG, this); }
    public Tensor sqrt() { return Pointwise.unary(Pointwise.Unary.SQRT, this); }
    public Tensor abs() { return Pointwise.unary(Pointwise.Unary.ABS, this); }
    public Tensor sin() { return Pointwise.unary(Pointwise.Unary.SIN, this); }
    public Tensor cos() { return Pointwise.unary(Pointwise.Unary.COS, this); }
    public Tensor asin() { return Pointwise.unary(Pointwise.Unary.ASIN, this); }
    public Tensor tanh() { return Pointwise.unary(Pointwise.Unary.TANH, this); }
    public Tensor sigmoid() { return Pointwise.unary(Pointwise.Unary.SIGMOID, this); }
    public Tensor relu() { return Pointwise.unary(Pointwise.Unary.RELU, this); }

    /** Elementwise {@code ==} with broadcasting and promotion, as a bool tensor. */
    public Tensor eq(Tensor other) { return Compare.apply(Compare.Fn.EQ, this, other); }
    public Tensor ne(Tensor other) { return Compare.apply(Compare.Fn.NE, this, other); }
    public Tensor lt(Tensor other) { return Compare.apply(Compare.Fn.LT, this, other); }
    public Tensor le(Tensor other) { return Compare.apply(Compare.Fn.LE, this, other); }
    public Tensor gt(Tensor other) { return Compare.apply(Compare.Fn.GT, this, other); }
    public Tensor ge(Tensor other) { return Compare.apply(Compare.Fn.GE, this, other); }
    public Tensor eq(double c) { return eq(wrapped(c)); }
    public Tensor gt(double c) { return gt(wrapped(c)); }
    public Tensor lt(double c) { return lt(wrapped(c)); }

    /** A zero-dimensional float64 tensor: in promotion it counts like a Java scalar of its category. */
    private static Tensor wrapped(double c) {
        return of(DType.FLOAT64, new double[] {c});
    }

    // ---------------------------------------------------------------- in place (no autograd)

    public Tensor add_(Tensor other) { return inPlace(Binary.Fn.ADD, other); }
    public Tensor sub_(Tensor other) { return inPlace(Binary.Fn.SUB, other); }
    public Tensor mul_(Tensor other) { return inPlace(Binary.Fn.MUL, other); }
    public Tensor div_(Tensor other) { return inPlace(Binary.Fn.DIV, other); }

    private Tensor inPlace(Binary.Fn fn, Tensor other) {
        checkInPlace(fn.name().toLowerCase(java.util.Locale.ROOT) + "_");
        DType result = DType.resultType(this, other);
        if (fn == Binary.Fn.DIV && !result.isFloatingPoint()) result = DType.DEFAULT_FLOAT;
        checkCast(result);
        if (host == null || other.host == null) {
            DeviceTensors.inPlace(fn, this, other);
        } else if (whole && dtype == DType.FLOAT32) {
            Binary.inPlace(fn, this, other);
        } else {
            int[] out = Shapes.broadcast(fn.name().toLowerCase(java.util.Locale.ROOT) + "_", shape, other.shape);
            if (!Arrays.equals(out, shape)) {
                throw new IllegalArgumentException(fn.name().toLowerCase(java.util.Locale.ROOT) + "_: output with shape " + Shapes.str(shape)
                        + " doesn't match the broadcast shape " + Shapes.str(out));
            }
            try (GradMode.Scope ignored = GradMode.noGrad()) {
                writeFrom(Binary.apply(fn, this, other));
            }
        }
        storage.bumpVersion();
        return this;
    }

    private void checkCast(DType result) {
        if (!DType.canCast(result, dtype)) {
            throw new IllegalArgumentException("result type " + result.scalarTypeName() + " can't be cast to the desired output type "
                    + dtype.scalarTypeName());
        }
    }

    public Tensor add_(float c) {
        checkInPlace("add_");
        checkCast(DType.resultType(dtype, DType.Category.FLOATING));
        if (host == null) {
            DeviceTensors.addScalar(this, c);
        } else if (whole && dtype == DType.FLOAT32) {
            float[] d = host.floats();
            for (int i = 0; i < d.length; i++) d[i] += c;
        } else {
            try (GradMode.Scope ignored = GradMode.noGrad()) {
                writeFrom(add(c));
            }
        }
        storage.bumpVersion();
        return this;
    }

    /** {@code x.add_(c)} for a Python int: exact for integer tensors (wrapping), as {@code add_((float) c)} for float32. */
    public Tensor add_(long c) {
        checkInPlace("add_");
        checkCast(DType.resultType(dtype, DType.Category.INTEGER));
        if (host == null) {
            DeviceTensors.addLong(this, c);
        } else if (whole && dtype == DType.FLOAT32) { // as add_((float) c), which an int argument chose before this overload
            float[] d = host.floats();
            float f = c;
            for (int i = 0; i < d.length; i++) d[i] += f;
        } else if (whole && dtype == DType.INT64) {
            long[] d = host.longs();
            for (int i = 0; i < d.length; i++) d[i] += c;
        } else {
            try (GradMode.Scope ignored = GradMode.noGrad()) {
                writeFrom(add(c));
            }
        }
        storage.bumpVersion();
        return this;
    }

    public Tensor mul_(float c) {
        checkInPlace("mul_");
        checkCast(DType.resultType(dtype, DType.Category.FLOATING));
        if (host == null) {
            DeviceTensors.mulScalar(this, c);
        } else if (whole && dtype == DType.FLOAT32) {
            float[] d = host.floats();
            for (int i = 0; i < d.length; i++) d[i] *= c;
        } else {
            try (GradMode.Scope ignored = GradMode.noGrad()) {
                writeFrom(mul(c));
            }
        }
        storage.bumpVersion();
        return this;
    }

    public Tensor fill_(double value) {
        checkInPlace("fill_");
        if (host == null) {
            DeviceTensors.fill(this, value);
        } else if (whole && dtype == DType.FLOAT32) {
            Arrays.fill(host.floats(), (float) value);
        } else {
            HostStorage one = HostStorage.allocate(dtype, 1);
            one.setDouble(0, value);
            Strided.scatter(host, Strided.indices(shape, strides, offset), one, new int[numel()]);
        }
        storage.bumpVersion();
        return this;
    }

    public Tensor zero_() {
        return fill_(0);
    }

    /**
     * Copies {@code src}'s values into this tensor, broadcasting {@code src} to this shape and
     * converting its dtype, as PyTorch's {@code copy_}; writes through a view reach its base.
     */
    public Tensor copy_(Tensor src) {
        checkInPlace("copy_");
        if (!Arrays.equals(src.shape, shape)) {
            int[] b;
            try {
                b = Shapes.broadcast("copy_", shape, src.shape);
            } catch (IllegalArgumentException e) {
                b = null;
            }
            if (b == null || !Arrays.equals(b, shape)) {
                throw new IllegalArgumentException("copy_: the source of shape " + Shapes.str(src.shape) + " cannot be broadcast to "
                        + "the destination's shape " + Shapes.str(shape));
            }
        }
        writeFrom(src);
        storage.bumpVersion();
        return this;
    }

    /** Writes src (broadcastable to this shape) into this tensor's elements, converting dtypes. */
    private void writeFrom(Tensor src) {
        if (host == null || src.host == null) {
            DeviceTensors.copy(this, src);
            return;
        }
        HostStorage storage = host;
        if (whole && src.whole && src.dtype == dtype && Arrays.equals(src.shape, shape)) {
            System.arraycopy(src.host.array(), 0, storage.array(), 0, storage.length());
            return;
        }
        if (src.dtype == dtype && Arrays.equals(src.shape, shape) && src.storage != storage && Strided.isContiguous(shape, strides)
                && Strided.isContiguous(src.shape, src.strides)) { // two row-major blocks, e.g. cat along dimension 0
            System.arraycopy(src.host.array(), src.offset, storage.array(), offset, numel());
            return;
        }
        int[] srcStrides = Shapes.broadcastStridesOf(src.shape, src.strides, shape);
        int[] from = Strided.indices(shape, srcStrides, src.offset);
        int[] to = Strided.indices(shape, strides, offset);
        if (src.storage == storage) { // overlapping source: read everything before writing
            HostStorage copy = HostStorage.wrap(dtype, Strided.gather(src.host, from));
            from = new int[from.length];
            for (int i = 0; i < from.length; i++) from[i] = i;
            Strided.scatter(storage, to, copy, from);
            return;
        }
        Strided.scatter(storage, to, src.host, from);
    }

    private void checkInPlace(String op) {
        if (requiresGrad && GradMode.isEnabled()) {
            throw new IllegalStateException(op + ": a " + (isLeaf() ? "leaf Variable" : "tensor") + " that requires grad is being used "
                    + "in an in-place operation; do it inside GradMode.noGrad() or on a detach()ed tensor");
        }
    }

    // ---------------------------------------------------------------- linear algebra

    public Tensor matmul(Tensor other) { return MatMul.apply(this, other); }
    public Tensor mm(Tensor other) { return MatMul.apply(this, other); }

    /** Transpose of a tensor with at most 2 dimensions (a view). */
    public Tensor t() {
        if (dim() > 2) throw new IllegalArgumentException("t() expects a tensor with <= 2 dimensions, but self is " + dim() + "D");
        return dim() < 2 ? this : ShapeOps.transpose(this, 0, 1, "TBackward0");
    }

    // ---------------------------------------------------------------- reductions

    public Tensor sum() { return Reduce.sum(this); }
    public Tensor sum(int dim, boolean keepdim) { return Reduce.sum(this, dim, keepdim); }
    public Tensor mean() { return Reduce.mean(this); }
    public Tensor mean(int dim, boolean keepdim) { return Reduce.mean(this, dim, keepdim); }
    /** The largest element. */
    public Tensor max() { return Reduce.max(this); }
    /** Largest values along {@code dim} and where they are, like {@code torch.max(x, dim)}. */
    public Reduce.MaxResult max(int dim, boolean keepdim) { return Reduce.max(this, dim, keepdim); }
    public Tensor argmax(int dim) { return Reduce.max(this, dim, false).indices(); }
    /** The flat index of the largest element (the first of equals; a NaN wins), a 0-dim int64 tensor. */
    public Tensor argmax() { return Reduce.argExtreme(this, false); }
    /** The smallest element. */
    public Tensor min() { return Reduce.min(this); }
    /** Smallest values along {@code dim} and where they are, like {@code torch.min(x, dim)}. */
    public Reduce.MaxResult min(int dim, boolean keepdim) { return Reduce.min(this, dim, keepdim); }
    public Tensor argmin(int dim) { return Reduce.min(this, dim, false).indices(); }
    /** The flat index of the smallest element, a 0-dim int64 tensor. */
    public Tensor argmin() { return Reduce.argExtreme(this, true); }
    /** Sample variance (Bessel's correction), over all elements. */
    public Tensor var() {
        Tensor centered = sub(mean());
        return centered.mul(centered).sum().div(Math.max(1, numel() - 1));
    }
    /** {@code torch.std_mean}: (sample standard deviation, mean) over all elements. */
    public Tensor[] stdMean() { return new Tensor[] {std(), mean()}; }

    /** {@code torch.std_mean(x, dim, keepdim=...)}: (sample standard deviation, mean) along {@code dim}, Bessel's correction. */
    public Tensor[] stdMean(int dim, boolean keepdim) {
        int d = Shapes.wrapDim("std_mean", dim, dim());
        Tensor mean = mean(d, true);
        Tensor centered = sub(mean);
        int n = dim() == 0 ? 1 : shape[d];
        Tensor std = centered.mul(centered).sum(d, keepdim).div((float) Math.max(1, n - 1)).sqrt();
        return new Tensor[] {std, keepdim ? mean : mean.squeeze(d)};
    }
    /** The Euclidean (L2) norm of all elements. */
    public Tensor norm() { return mul(this).sum().sqrt(); }
    /** Sample standard deviation (Bessel's correction), over all elements. */
    public Tensor std() { return var().sqrt(); }

    // ---------------------------------------------------------------- shapes and views

    /** Same storage, new shape (one -1 allowed); raises PyTorch's error where the strides cannot express it. */
    public Tensor view(int... shape) { return ShapeOps.view(this, shape); }
    /** A view where the strides allow one, else a row-major copy. */
    public Tensor reshape(int... shape) { return ShapeOps.reshape(this, shape); }
    public Tensor flatten() { return flatten(0, -1); }
    public Tensor flatten(int startDim) { return flatten(startDim, -1); }

    public Tensor flatten(int startDim, int endDim) {
        if (dim() == 0) return reshape(1);
        int s = Shapes.wrapDim("flatten", startDim, dim()), e = Shapes.wrapDim("flatten", endDim, dim());
        if (s > e) throw new IllegalArgumentException("flatten() has invalid args: start_dim cannot come after end_dim");
        if (s == e) return this;
        int[] ns = new int[dim() - (e - s)];
        int k = 0;
        for (int i = 0; i < s; i++) ns[k++] = shape[i];
        int m = 1;
        for (int i = s; i <= e; i++) m *= shape[i];
        ns[k++] = m;
        for (int i = e + 1; i < dim(); i++) ns[k++] = shape[i];
        return reshape(ns);
    }

    public Tensor unsqueeze(int dim) { return ShapeOps.unsqueeze(this, dim); }

    /** Removes {@code dim} if its size is 1 (a view). */
    public Tensor squeeze(int dim) { return ShapeOps.squeeze(this, dim); }

    /** Removes every dimension of size 1 (a view). */
    public Tensor squeeze() { return ShapeOps.squeeze(this); }

    public Tensor permute(int... dims) { return ShapeOps.permute(this, dims); }

    public Tensor transpose(int dim0, int dim1) { return ShapeOps.transpose(this, dim0, dim1, "TransposeBackward0"); }

    /** A view repeating dimensions of size 1 (stride 0); -1 keeps a size, new leading dimensions may be added. */
    public Tensor expand(int... sizes) { return ShapeOps.expand(this, sizes); }

    public Tensor expandAs(Tensor other) { return expand(other.shape); }

    /** Elements [start, start+length) along {@code dim} (a view). */
    public Tensor narrow(int dim, int start, int length) { return ShapeOps.narrow(this, dim, start, length); }

    /** Elements [start, end) along {@code dim}, like {@code x[:, start:end]} (a view; out-of-range bounds are clamped). */
    public Tensor slice(int dim, int start, int end) { return slice(dim, start, end, 1); }

    /** Elements start, start+step, ... below end along {@code dim}, like {@code x[:, start:end:step]} (a view). */
    public Tensor slice(int dim, int start, int end, int step) { return ShapeOps.slice(this, dim, start, end, step); }

    /**
     * Python's indexing: {@code x.index(all(), at(1))} is {@code x[:, 1]} (import
     * {@code static dev.phalanx.tensor.Index.*}); a view. Dimensions not named are kept whole.
     */
    public Tensor index(Index... indices) {
        Tensor t = this;
        int d = 0;
        for (Index ix : indices) {
            if (ix instanceof Index.At at) {
                t = t.select(d, at.index());
            } else if (ix instanceof Index.Range r) {
                t = t.slice(d, r.start(), r.end(), r.step());
                d++;
            } else if (ix == Index.newAxis()) {
                t = t.unsqueeze(d);
                d++;
            } else {
                if (d >= t.dim()) throw new IndexOutOfBoundsException("too many indices for tensor of dimension " + dim());
                d++;
            }
        }
        return t;
    }

    /** One index along {@code dim}, that dimension removed: {@code x[:, i]} (a view). */
    public Tensor select(int dim, int index) { return ShapeOps.select(this, dim, index); }

    /** {@code torch.chunk}: pieces of ceil(size/chunks) along dim, the last smaller, maybe fewer pieces (views). */
    public List<Tensor> chunk(int chunks, int dim) {
        if (chunks <= 0) throw new IllegalArgumentException("chunk expects `chunks` to be greater than 0, got: " + chunks);
        int d = Shapes.wrapDim("chunk", dim, dim());
        int per = (shape[d] + chunks - 1) / chunks;
        return split(Math.max(per, 1), d);
    }

    /** {@code torch.split} with one size: pieces of {@code size} along dim, the last smaller (views). */
    public List<Tensor> split(int size, int dim) {
        if (size <= 0) throw new IllegalArgumentException("split expects split_size be positive, got " + size);
        int d = Shapes.wrapDim("split", dim, dim());
        List<Tensor> out = new ArrayList<>();
        for (int s = 0; s < shape[d]; s += size) out.add(narrow(d, s, Math.min(size, shape[d] - s)));
        if (out.isEmpty()) out.add(narrow(d, 0, 0));
        return out;
    }

    public static Tensor cat(List<Tensor> tensors, int dim) { return ShapeOps.cat(tensors, dim); }

    /** This tensor converted to {@code target} (this one itself when it already is; a copy otherwise). */
    public Tensor to(DType target) {
        if (target == dtype) return this;
        return ShapeOps.convert(this, target); // on a device: one conversion kernel
    }

    /** A float32 copy of a tensor of another dtype, or this. */
    public Tensor toFloat() {
        return to(DType.FLOAT32);
    }

    // ---------------------------------------------------------------- devices

    /** {@code to(device, dtype)}: moves and converts. */
    public Tensor to(Device target, DType type) {
        return target.isCpu() ? to(target).to(type) : to(type).to(target); // dtypes convert on the cpu
    }

    /**
     * This tensor on {@code target}: itself when it is there already, else a copy (to the host:
     * waits for the device work that produced it). Recorded for autograd as PyTorch's
     * {@code ToCopyBackward0}: the gradient goes back to this tensor's device.
     */
    public Tensor to(Device target) {
        if (target.equals(device)) return this;
        return DeviceTensors.move(this, target);
    }

    /** A detached host copy of a device tensor, in this tensor's shape, strides and offset made row-major. */
    private Tensor toHost() {
        return DeviceTensors.toHost(this, true);
    }

    /**
     * Points this tensor at {@code src}'s data, as PyTorch's {@code param.data = src}: what
     * {@code Module.to(device)} and {@code Module.to(dtype)} do to each parameter so that modules
     * and optimizers keep the same tensor objects. Shapes must be equal; the dtype may change
     * between floating dtypes only (a parameter stays a float); the autograd fields stay.
     */
    public void setData(Tensor src) {
        boolean dtypeOk = src.dtype == dtype || (src.dtype.isFloatingPoint() && dtype.isFloatingPoint());
        if (!Arrays.equals(src.shape, shape) || !dtypeOk) {
            throw new IllegalArgumentException("setData: the new data is " + src.dtype.torchName() + " " + Shapes.str(src.shape) + " but this tensor is "
                    + dtype.torchName() + " " + Shapes.str(shape));
        }
        dtype = src.dtype;
        point(src.storage, src.strides, src.offset);
    }

    /** Throws PyTorch's error when two tensors of one op sit on different devices. */
    public static void checkSameDevice(String op, Tensor a, Tensor b) {
        if (!a.device.equals(b.device)) {
            throw new IllegalArgumentException(op + ": Expected all tensors to be on the same device, but found at least two devices, "
                    + a.device + " and " + b.device + "!");
        }
    }

    // ---------------------------------------------------------------- comparison and printing

    /** |a - b| <= atol + rtol * |b| everywhere, with equal shapes. */
    public boolean allClose(Tensor other, double rtol, double atol) {
        if (!Arrays.equals(shape, other.shape)) return false;
        double[] a = contiguousDoubles(), b = other.contiguousDoubles();
        for (int i = 0; i < a.length; i++) {
            if (!(Math.abs(a[i] - b[i]) <= atol + rtol * Math.abs(b[i]))) return false;
        }
        return true;
    }

    @Override
    public String toString() {
        return TensorFormatter.format(this);
    }
}
