package dev.phalanx.tensor;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import dev.phalanx.autograd.Backward;
import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Node;
import dev.phalanx.kernels.Device;
import dev.phalanx.ops.Binary;
import dev.phalanx.ops.MatMul;
import dev.phalanx.ops.Pointwise;
import dev.phalanx.ops.Reduce;
import dev.phalanx.ops.ShapeOps;

/**
 * An n-dimensional array of float32 or int64 on one device, contiguous and row-major, with the
 * autograd fields PyTorch users know: {@code requiresGrad}, {@code grad}, {@code gradFn}.
 *
 * <p>{@link #data()} hands out the backing array itself, without a copy: the Java analogue of
 * the blitz's NumPy bridge ({@code a.numpy()} shares memory with {@code a}). Views made by
 * {@link #view}/{@link #reshape}/{@link #flatten} share it too.
 */
public final class Tensor {

    private final DType dtype;
    private final int[] shape;
    private final float[] floats; // FLOAT32 storage, null for INT64
    private final long[] longs;   // INT64 storage, null for FLOAT32
    private final Device device = Device.CPU;

    private boolean requiresGrad;
    private Tensor grad;
    private Node gradFn;

    private Tensor(DType dtype, int[] shape, float[] floats, long[] longs) {
        this.dtype = dtype;
        this.shape = shape;
        this.floats = floats;
        this.longs = longs;
        int n = Shapes.numel(shape);
        int have = floats != null ? floats.length : longs.length;
        if (have != n) {
            throw new IllegalArgumentException("data of " + have + " elements cannot have shape " + Shapes.str(shape) + " (" + n + " elements)");
        }
    }

    // ---------------------------------------------------------------- creation

    /** A float32 tensor over {@code data} itself (no copy). */
    public static Tensor of(float[] data, int... shape) {
        return new Tensor(DType.FLOAT32, shape.clone(), data, null);
    }

    /** A 1-d float32 tensor of these values. */
    public static Tensor of(float... data) {
        return new Tensor(DType.FLOAT32, new int[] {data.length}, data, null);
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

    /** An int64 tensor over {@code data} itself (no copy). */
    public static Tensor ofLongs(long[] data, int... shape) {
        return new Tensor(DType.INT64, shape.clone(), null, data);
    }

    public static Tensor ofLongs(long... data) {
        return new Tensor(DType.INT64, new int[] {data.length}, null, data);
    }

    public static Tensor scalar(float value) {
        return new Tensor(DType.FLOAT32, new int[0], new float[] {value}, null);
    }

    public static Tensor zeros(int... shape) {
        return new Tensor(DType.FLOAT32, shape.clone(), new float[Shapes.numel(shape)], null);
    }

    public static Tensor zeros(DType dtype, int... shape) {
        return dtype == DType.FLOAT32 ? zeros(shape) : new Tensor(DType.INT64, shape.clone(), null, new long[Shapes.numel(shape)]);
    }

    public static Tensor ones(int... shape) {
        return full(1f, shape);
    }

    public static Tensor full(float value, int... shape) {
        float[] d = new float[Shapes.numel(shape)];
        Arrays.fill(d, value);
        return of(d, shape);
    }

    public static Tensor zerosLike(Tensor t) {
        return zeros(t.dtype, t.shape);
    }

    public static Tensor onesLike(Tensor t) {
        return full(1f, t.shape);
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
        for (int i = 0; i < n; i++) t.floats[i * n + i] = 1f;
        return t;
    }

    // ---------------------------------------------------------------- metadata and data

    public DType dtype() { return dtype; }
    public Device device() { return device; }
    public int[] shape() { return shape.clone(); }
    public int dim() { return shape.length; }
    public int numel() { return floats != null ? floats.length : longs.length; }

    public int size(int dim) {
        return shape[Shapes.wrapDim("size", dim, shape.length)];
    }

    /** The float32 backing array itself: writes to it change the tensor (the "NumPy bridge"). */
    public float[] data() {
        if (floats == null) throw new IllegalStateException("data(): tensor is " + dtype.torchName() + "; use longData()");
        return floats;
    }

    /** The int64 backing array itself. */
    public long[] longData() {
        if (longs == null) throw new IllegalStateException("longData(): tensor is " + dtype.torchName() + "; use data()");
        return longs;
    }

    /** The value of a one-element tensor, as PyTorch's {@code item()}. */
    public float item() {
        if (numel() != 1) {
            throw new IllegalStateException("a Tensor with " + numel() + " elements cannot be converted to Scalar");
        }
        return floats != null ? floats[0] : longs[0];
    }

    public long longItem() {
        if (numel() != 1) throw new IllegalStateException("a Tensor with " + numel() + " elements cannot be converted to Scalar");
        return longs != null ? longs[0] : (long) floats[0];
    }

    public float get(int... index) {
        int i = flatIndex(index);
        return floats != null ? floats[i] : longs[i];
    }

    public long getLong(int... index) {
        int i = flatIndex(index);
        return longs != null ? longs[i] : (long) floats[i];
    }

    /** Writes one element in place ({@code t[i, j] = v}). */
    public Tensor set(float value, int... index) {
        checkInPlace("set");
        int i = flatIndex(index);
        if (floats != null) floats[i] = value; else longs[i] = (long) value;
        return this;
    }

    private int flatIndex(int[] index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException("index of " + index.length + " dimensions into a tensor of shape " + Shapes.str(shape));
        }
        int flat = 0;
        for (int d = 0; d < shape.length; d++) {
            int i = index[d] < 0 ? index[d] + shape[d] : index[d];
            if (i < 0 || i >= shape[d]) {
                throw new IndexOutOfBoundsException("index " + index[d] + " is out of bounds for dimension " + d + " with size " + shape[d]);
            }
            flat = flat * shape[d] + i;
        }
        return flat;
    }

    // ---------------------------------------------------------------- autograd

    public boolean requiresGrad() { return requiresGrad; }

    /** Sets requires_grad on a leaf, like PyTorch's {@code requires_grad_()}; returns this. */
    public Tensor requiresGrad(boolean value) {
        if (gradFn != null && !value) {
            throw new IllegalStateException("you can only change requires_grad flags of leaf variables; use detach()");
        }
        if (value && dtype != DType.FLOAT32) {
            throw new IllegalStateException("only Tensors of floating point dtype can require gradients (this one is " + dtype.torchName() + ")");
        }
        requiresGrad = value;
        return this;
    }

    public Tensor grad() { return grad; }

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
        if (grad != null) Arrays.fill(grad.floats, 0f);
    }

    /** Backpropagates from this one-element tensor (the loss). */
    public void backward() {
        Backward.run(this, null);
    }

    /** Backpropagates with an explicit upstream gradient, for non-scalar outputs. */
    public void backward(Tensor gradient) {
        Backward.run(this, gradient);
    }

    /** A tensor sharing this one's data, cut off from the graph. */
    public Tensor detach() {
        return new Tensor(dtype, shape, floats, longs);
    }

    public Tensor clone() {
        return new Tensor(dtype, shape, floats != null ? floats.clone() : null, longs != null ? longs.clone() : null);
    }

    /**
     * Makes a tensor produced by an op: records {@code node} when grad mode is on and any input
     * requires grad. Used by the op classes; users never need it.
     */
    public static Tensor result(float[] data, int[] shape, Node node) {
        Tensor t = new Tensor(DType.FLOAT32, shape, data, null);
        if (node != null && GradMode.isEnabled()) {
            for (Tensor in : node.inputs()) {
                if (in != null && in.requiresGrad) {
                    t.requiresGrad = true;
                    t.gradFn = node;
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

    public Tensor add(float c) { return Pointwise.scalar(Pointwise.Scalar.ADD, this, c); }
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

    /** 1 where equal, else 0, as float32 (for counting correct predictions). */
    public Tensor eq(Tensor other) {
        if (!Arrays.equals(shape, other.shape)) {
            throw new IllegalArgumentException("eq: shapes " + Shapes.str(shape) + " and " + Shapes.str(other.shape) + " differ");
        }
        float[] out = new float[numel()];
        for (int i = 0; i < out.length; i++) out[i] = getFlat(i) == other.getFlat(i) ? 1f : 0f;
        return of(out, shape);
    }

    private double getFlat(int i) {
        return floats != null ? floats[i] : longs[i];
    }

    // ---------------------------------------------------------------- in place (no autograd)

    public Tensor add_(Tensor other) { return inPlace(Binary.Fn.ADD, other); }
    public Tensor sub_(Tensor other) { return inPlace(Binary.Fn.SUB, other); }
    public Tensor mul_(Tensor other) { return inPlace(Binary.Fn.MUL, other); }
    public Tensor div_(Tensor other) { return inPlace(Binary.Fn.DIV, other); }

    private Tensor inPlace(Binary.Fn fn, Tensor other) {
        checkInPlace(fn.name().toLowerCase(java.util.Locale.ROOT) + "_");
        Binary.inPlace(fn, this, other);
        return this;
    }

    public Tensor add_(float c) {
        checkInPlace("add_");
        float[] d = data();
        for (int i = 0; i < d.length; i++) d[i] += c;
        return this;
    }

    public Tensor mul_(float c) {
        checkInPlace("mul_");
        float[] d = data();
        for (int i = 0; i < d.length; i++) d[i] *= c;
        return this;
    }

    public Tensor fill_(float value) {
        checkInPlace("fill_");
        if (floats != null) Arrays.fill(floats, value); else Arrays.fill(longs, (long) value);
        return this;
    }

    public Tensor zero_() {
        return fill_(0f);
    }

    /** Copies {@code src}'s values into this tensor (same number of elements). */
    public Tensor copy_(Tensor src) {
        checkInPlace("copy_");
        if (src.numel() != numel() || src.dtype != dtype) {
            throw new IllegalArgumentException("copy_: cannot copy " + src.dtype.torchName() + Shapes.str(src.shape) + " into "
                    + dtype.torchName() + Shapes.str(shape));
        }
        if (floats != null) System.arraycopy(src.floats, 0, floats, 0, floats.length);
        else System.arraycopy(src.longs, 0, longs, 0, longs.length);
        return this;
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
    /** Transpose of a 2-d tensor. */
    public Tensor t() {
        if (dim() != 2) throw new IllegalArgumentException("t() expects a tensor with <= 2 dimensions, but self is " + dim() + "D");
        return permute(1, 0);
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
    /** Sample variance (Bessel's correction), over all elements. */
    public Tensor var() {
        Tensor centered = sub(mean());
        return centered.mul(centered).sum().div(Math.max(1, numel() - 1));
    }
    /** {@code torch.std_mean}: (sample standard deviation, mean) over all elements. */
    public Tensor[] stdMean() { return new Tensor[] {std(), mean()}; }
    /** The Euclidean (L2) norm of all elements. */
    public Tensor norm() { return mul(this).sum().sqrt(); }
    /** Sample standard deviation (Bessel's correction), over all elements. */
    public Tensor std() { return var().sqrt(); }

    // ---------------------------------------------------------------- shapes

    public Tensor view(int... shape) { return ShapeOps.view(this, shape); }
    public Tensor reshape(int... shape) { return ShapeOps.view(this, shape); }
    public Tensor flatten() { return flatten(0, -1); }
    public Tensor flatten(int startDim) { return flatten(startDim, -1); }

    public Tensor flatten(int startDim, int endDim) {
        if (dim() == 0) return view(1);
        int s = Shapes.wrapDim("flatten", startDim, dim()), e = Shapes.wrapDim("flatten", endDim, dim());
        if (s > e) throw new IllegalArgumentException("flatten() has invalid args: start_dim cannot come after end_dim");
        int[] ns = new int[dim() - (e - s)];
        int k = 0;
        for (int i = 0; i < s; i++) ns[k++] = shape[i];
        int m = 1;
        for (int i = s; i <= e; i++) m *= shape[i];
        ns[k++] = m;
        for (int i = e + 1; i < dim(); i++) ns[k++] = shape[i];
        return view(ns);
    }

    public Tensor unsqueeze(int dim) {
        int d = Shapes.wrapDim("unsqueeze", dim, dim() + 1);
        int[] ns = new int[dim() + 1];
        for (int i = 0, k = 0; i < ns.length; i++) ns[i] = i == d ? 1 : shape[k++];
        return view(ns);
    }

    public Tensor squeeze(int dim) {
        int d = Shapes.wrapDim("squeeze", dim, dim());
        if (shape[d] != 1) return this;
        int[] ns = new int[dim() - 1];
        for (int i = 0, k = 0; i < shape.length; i++) if (i != d) ns[k++] = shape[i];
        return view(ns);
    }

    public Tensor permute(int... dims) { return ShapeOps.permute(this, dims); }

    public Tensor transpose(int dim0, int dim1) {
        int[] p = new int[dim()];
        for (int i = 0; i < p.length; i++) p[i] = i;
        int a = Shapes.wrapDim("transpose", dim0, dim()), b = Shapes.wrapDim("transpose", dim1, dim());
        p[a] = b;
        p[b] = a;
        return permute(p);
    }

    /** Elements [start, start+length) along {@code dim} (a copy). */
    public Tensor narrow(int dim, int start, int length) { return ShapeOps.narrow(this, dim, start, length); }

    /** Elements [start, end) along {@code dim}, like {@code x[:, start:end]}. */
    public Tensor slice(int dim, int start, int end) {
        int d = Shapes.wrapDim("slice", dim, dim());
        int s = Math.max(0, start < 0 ? start + shape[d] : start);
        int e = Math.min(shape[d], end < 0 ? end + shape[d] : end);
        return narrow(d, s, Math.max(0, e - s));
    }

    /** One index along {@code dim}, that dimension removed: {@code x[:, i]}. */
    public Tensor select(int dim, int index) {
        int d = Shapes.wrapDim("select", dim, dim());
        int i = index < 0 ? index + shape[d] : index;
        return narrow(d, i, 1).squeeze(d);
    }

    /** {@code torch.chunk}: pieces of ceil(size/chunks) along dim, the last smaller, maybe fewer pieces. */
    public List<Tensor> chunk(int chunks, int dim) {
        if (chunks <= 0) throw new IllegalArgumentException("chunk expects `chunks` to be greater than 0, got: " + chunks);
        int d = Shapes.wrapDim("chunk", dim, dim());
        int per = (shape[d] + chunks - 1) / chunks;
        return split(Math.max(per, 1), d);
    }

    /** {@code torch.split} with one size: pieces of {@code size} along dim, the last smaller. */
    public List<Tensor> split(int size, int dim) {
        if (size <= 0) throw new IllegalArgumentException("split expects split_size be positive, got " + size);
        int d = Shapes.wrapDim("split", dim, dim());
        List<Tensor> out = new ArrayList<>();
        for (int s = 0; s < shape[d]; s += size) out.add(narrow(d, s, Math.min(size, shape[d] - s)));
        if (out.isEmpty()) out.add(narrow(d, 0, 0));
        return out;
    }

    public static Tensor cat(List<Tensor> tensors, int dim) { return ShapeOps.cat(tensors, dim); }

    /** A float32 copy of an int64 tensor, or this. */
    public Tensor toFloat() {
        if (floats != null) return this;
        float[] d = new float[longs.length];
        for (int i = 0; i < d.length; i++) d[i] = longs[i];
        return of(d, shape);
    }

    // ---------------------------------------------------------------- devices

    /** Moves the tensor to a device; only {@code cpu} exists in this build. */
    public Tensor to(Device target) {
        if (target.equals(device)) return this;
        throw new UnsupportedOperationException("cannot move a tensor to " + target + ": this build has no CUDA backend yet; use cpu");
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
        for (int i = 0; i < numel(); i++) {
            double a = getFlat(i), b = other.getFlat(i);
            if (!(Math.abs(a - b) <= atol + rtol * Math.abs(b))) return false;
        }
        return true;
    }

    @Override
    public String toString() {
        return TensorFormatter.format(this);
    }
}
