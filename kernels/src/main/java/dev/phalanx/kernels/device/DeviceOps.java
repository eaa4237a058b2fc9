package dev.phalanx.kernels.device;

import dev.phalanx.kernels.cpu.ConvGeometry;
import dev.phalanx.kernels.cpu.PoolGeometry;

/**
 * The layer operations of training on one device, built from {@link DeviceApi}'s calls and
 * Phalanx's kernels: what the tensor ops will call when tensors live on a device. Holds the
 * device's caching allocator (scratch memory, cuDNN workspaces) and its convolution algorithm
 * cache. Every method enqueues on the stream it is given and returns; none synchronises.
 */
public final class DeviceOps {

    private final DeviceApi device;
    private final CachingAllocator allocator;
    private final ConvAlgorithmCache algorithms;
    private final ShapeTables shapeTables;

    public DeviceOps(DeviceApi device) {
        this(device, new CachingAllocator(device));
    }

    public DeviceOps(DeviceApi device, CachingAllocator allocator) {
        this.device = device;
        this.allocator = allocator;
        this.algorithms = new ConvAlgorithmCache(device);
        this.shapeTables = new ShapeTables(device);
    }

    public DeviceApi device() {
        return device;
    }

    public CachingAllocator allocator() {
        return allocator;
    }

    public ConvAlgorithmCache algorithms() {
        return algorithms;
    }

    /** Device memory for {@code count} floats on {@code stream}, from the caching allocator. */
    public DeviceBuffer floats(long count, Stream stream) {
        return allocator.allocate(count * Float.BYTES, stream);
    }

    // ---- Linear: y = x W^T + b, x [n, in], W [out, in]

    public void linearForward(Stream s, int n, int in, int out, DeviceBuffer x, DeviceBuffer w, DeviceBuffer b, DeviceBuffer y) {
        device.gemm(s, false, true, n, out, in, 1f, x, w, 0f, y);
        if (b != null) device.launch(s, "add_bias_rows", LaunchConfig.linear((long) n * out), KernelArgs.of().ptr(y).ptr(b).i64(n).i32(out));
    }

    /** dx = dy W, dW = dy^T x, db = column sums of dy; dx may be null (the first layer). */
    public void linearBackward(Stream s, int n, int in, int out, DeviceBuffer x, DeviceBuffer w, DeviceBuffer dy, DeviceBuffer dx,
                               DeviceBuffer dw, DeviceBuffer db) {
        if (dx != null) device.gemm(s, false, false, n, in, out, 1f, dy, w, 0f, dx);
        device.gemm(s, true, false, out, in, n, 1f, dy, x, 0f, dw);
        if (db != null) device.launch(s, "sum_columns", LaunchConfig.linear(out), KernelArgs.of().ptr(dy).ptr(db).i32(n).i32(out));
    }

    // ---- Conv2d (cuDNN, algorithm cached per shape) and its bias

    public void convForward(Stream s, ConvGeometry g, DeviceBuffer x, DeviceBuffer w, DeviceBuffer b, DeviceBuffer y) {
        ConvAlgorithm a = algorithms.get(ConvDirection.FORWARD, g);
        DeviceBuffer ws = workspace(a, s);
        device.convForward(s, g, a, x, w, y, ws);
        release(ws);
        if (b != null) {
            long total = (long) g.n() * g.outImage();
            device.launch(s, "add_bias_nchw", LaunchConfig.linear(total), KernelArgs.of().ptr(y).ptr(b).i64(total).i32(g.cout()).i32(g.outPlane()));
        }
    }

    public void convBackward(Stream s, ConvGeometry g, DeviceBuffer x, DeviceBuffer w, DeviceBuffer dy, DeviceBuffer dx, DeviceBuffer dw,
                             DeviceBuffer db) {
        if (dx != null) {
            ConvAlgorithm a = algorithms.get(ConvDirection.BACKWARD_DATA, g);
            DeviceBuffer ws = workspace(a, s);
            device.convBackwardData(s, g, a, dy, w, dx, ws);
            release(ws);
        }
        ConvAlgorithm a = algorithms.get(ConvDirection.BACKWARD_FILTER, g);
        DeviceBuffer ws = workspace(a, s);
        device.convBackwardFilter(s, g, a, x, dy, dw, ws);
        release(ws);
        if (db != null) {
            device.launch(s, "bias_grad_nchw", LaunchConfig.linear(g.cout()), KernelArgs.of().ptr(dy).ptr(db).i32(g.n()).i32(g.cout()).i32(g.outPlane()));
        }
    }

    private DeviceBuffer workspace(ConvAlgorithm a, Stream s) {
        return a.workspaceBytes() > 0 ? allocator.allocate(a.workspaceBytes(), s) : null;
    }

    /** Freed right after the enqueue: the block is reused only by later work on the same stream, which runs after. */
    private void release(DeviceBuffer ws) {
        if (ws != null) allocator.free(ws);
    }

    // ---- elementwise helpers of the tensor ops (gradient accumulation, fills, scaling by an upstream gradient)

    /** y += a * x over n floats. */
    public void axpy(Stream s, long n, float a, DeviceBuffer x, DeviceBuffer y) {
        device.launch(s, "axpy_f32", LaunchConfig.linear(n), KernelArgs.of().ptr(x).ptr(y).f32(a).i64(n));
    }

    /** x = value over n floats. */
    public void fill(Stream s, long n, float value, DeviceBuffer x) {
        device.launch(s, "fill_f32", LaunchConfig.linear(n), KernelArgs.of().ptr(x).f32(value).i64(n));
    }

    /** x *= scale over n floats, where {@code scale} is one float in device memory (read by the kernel: no host synchronisation). */
    public void scaleBy(Stream s, long n, DeviceBuffer x, DeviceBuffer scale) {
        device.launch(s, "scale_by_f32", LaunchConfig.linear(n), KernelArgs.of().ptr(x).ptr(scale).i64(n));
    }

    // ---- ReLU, max pooling

    public void reluForward(Stream s, long n, DeviceBuffer x, DeviceBuffer y) {
        device.launch(s, "relu_forward", LaunchConfig.linear(n), KernelArgs.of().ptr(x).ptr(y).i64(n));
    }

    public void reluBackward(Stream s, long n, DeviceBuffer y, DeviceBuffer dy, DeviceBuffer dx) {
        device.launch(s, "relu_backward", LaunchConfig.linear(n), KernelArgs.of().ptr(y).ptr(dy).ptr(dx).i64(n));
    }

    /** {@code indices} holds one int32 per output element. */
    public void maxPoolForward(Stream s, PoolGeometry g, DeviceBuffer x, DeviceBuffer y, DeviceBuffer indices) {
        device.launch(s, "max_pool2d_forward", LaunchConfig.linear((long) g.planes() * g.oh() * g.ow()), pool(KernelArgs.of().ptr(x).ptr(y).ptr(indices), g));
    }

    public void maxPoolBackward(Stream s, PoolGeometry g, DeviceBuffer dy, DeviceBuffer indices, DeviceBuffer dx) {
        device.launch(s, "max_pool2d_backward", LaunchConfig.linear((long) g.planes() * g.h() * g.w()), pool(KernelArgs.of().ptr(dy).ptr(indices).ptr(dx), g));
    }

    private static KernelArgs pool(KernelArgs a, PoolGeometry g) {
        return a.i32(g.planes()).i32(g.h()).i32(g.w()).i32(g.oh()).i32(g.ow()).i32(g.kh()).i32(g.kw()).i32(g.sh()).i32(g.sw()).i32(g.ph()).i32(g.pw());
    }

    /** Average pooling counting padded cells (count_include_pad), as the CPU's. */
    public void avgPoolForward(Stream s, PoolGeometry g, DeviceBuffer x, DeviceBuffer y) {
        device.launch(s, "avg_pool2d_forward", LaunchConfig.linear((long) g.planes() * g.oh() * g.ow()), pool(KernelArgs.of().ptr(x).ptr(y), g));
    }

    public void avgPoolBackward(Stream s, PoolGeometry g, DeviceBuffer dy, DeviceBuffer dx) {
        device.launch(s, "avg_pool2d_backward", LaunchConfig.linear((long) g.planes() * g.h() * g.w()), pool(KernelArgs.of().ptr(dy).ptr(dx), g));
    }

    public void adaptiveAvgPoolForward(Stream s, int planes, int h, int w, int oh, int ow, DeviceBuffer x, DeviceBuffer y) {
        device.launch(s, "adaptive_avg_pool2d_forward", LaunchConfig.linear((long) planes * oh * ow),
                KernelArgs.of().ptr(x).ptr(y).i32(planes).i32(h).i32(w).i32(oh).i32(ow));
    }

    public void adaptiveAvgPoolBackward(Stream s, int planes, int h, int w, int oh, int ow, DeviceBuffer dy, DeviceBuffer dx) {
        device.launch(s, "adaptive_avg_pool2d_backward", LaunchConfig.linear((long) planes * h * w),
                KernelArgs.of().ptr(dy).ptr(dx).i32(planes).i32(h).i32(w).i32(oh).i32(ow));
    }

    // ---- cross entropy (mean over rows, scaled by `weight` for a replica's share of the batch)

    /** logprobs [n, c], rowLoss [n], loss [1] = weight * mean of rowLoss; targets are int64. */
    public void crossEntropyForward(Stream s, int n, int c, DeviceBuffer logits, DeviceBuffer targets, DeviceBuffer logprobs,
                                    DeviceBuffer rowLoss, DeviceBuffer loss, float weight) {
        device.launch(s, "cross_entropy_forward", LaunchConfig.perRow(n, LaunchConfig.CROSS_ENTROPY_THREADS),
                KernelArgs.of().ptr(logits).ptr(targets).ptr(logprobs).ptr(rowLoss).i32(n).i32(c));
        device.launch(s, "sum_all", new LaunchConfig(1, 1, 1, LaunchConfig.SUM_THREADS, 1, 1, 0), KernelArgs.of().ptr(rowLoss).ptr(loss).i64(n));
        device.launch(s, "scale_f32", LaunchConfig.linear(1), KernelArgs.of().ptr(loss).f32(weight / n).i64(1));
    }

    public void crossEntropyBackward(Stream s, int n, int c, DeviceBuffer logprobs, DeviceBuffer targets, DeviceBuffer dlogits, float weight) {
        device.launch(s, "cross_entropy_backward", LaunchConfig.linear((long) n * c),
                KernelArgs.of().ptr(logprobs).ptr(targets).ptr(dlogits).i32(n).i32(c).f32(weight / n));
    }

    // ---- matmul: out [m, n] = a [m, k] b [k, n]; its gradients da = g b^T, db = a^T g (cuBLAS)

    public void matmul(Stream s, int m, int k, int n, DeviceBuffer a, DeviceBuffer b, DeviceBuffer out) {
        device.gemm(s, false, false, m, n, k, 1f, a, b, 0f, out);
    }

    /** da and db may each be null (no gradient wanted). */
    public void matmulBackward(Stream s, int m, int k, int n, DeviceBuffer a, DeviceBuffer b, DeviceBuffer g, DeviceBuffer da, DeviceBuffer db) {
        if (da != null) device.gemm(s, false, true, m, k, n, 1f, g, b, 0f, da);
        if (db != null) device.gemm(s, true, false, k, n, m, 1f, a, g, 0f, db);
    }

    // ---- softmax and log_softmax along the middle dimension of [outer, size, inner]

    public void softmaxForward(Stream s, int outer, int size, int inner, boolean log, DeviceBuffer x, DeviceBuffer y) {
        device.launch(s, "softmax_forward", LaunchConfig.perLine((long) outer * inner, LaunchConfig.SOFTMAX_THREADS),
                KernelArgs.of().ptr(x).ptr(y).i32(outer).i32(size).i32(inner).i32(log ? 1 : 0));
    }

    /** {@code y} is the forward's output. */
    public void softmaxBackward(Stream s, int outer, int size, int inner, boolean log, DeviceBuffer y, DeviceBuffer g, DeviceBuffer dx) {
        device.launch(s, "softmax_backward", LaunchConfig.perLine((long) outer * inner, LaunchConfig.SOFTMAX_THREADS),
                KernelArgs.of().ptr(y).ptr(g).ptr(dx).i32(outer).i32(size).i32(inner).i32(log ? 1 : 0));
    }

    // ---- sums: the whole tensor, along a dimension, down to a broadcast operand's shape

    /** out[0] = scale * the sum of x's n floats (one block: a fixed tree, deterministic). */
    public void sumAll(Stream s, long n, DeviceBuffer x, DeviceBuffer out, float scale) {
        device.launch(s, "sum_all", new LaunchConfig(1, 1, 1, LaunchConfig.SUM_THREADS, 1, 1, 0), KernelArgs.of().ptr(x).ptr(out).i64(n));
        if (scale != 1f) device.launch(s, "scale_f32", LaunchConfig.linear(1), KernelArgs.of().ptr(out).f32(scale).i64(1));
    }

    /** out [outer, inner] = scale * x [outer, size, inner] summed over the middle dimension. */
    public void sumDim(Stream s, int outer, int size, int inner, float scale, DeviceBuffer x, DeviceBuffer out) {
        device.launch(s, "sum_dim", LaunchConfig.linear((long) outer * inner), KernelArgs.of().ptr(x).ptr(out).i32(outer).i32(size).i32(inner).f32(scale));
    }

    /** dx [outer, size, inner] = scale * g [outer, inner] repeated along the middle dimension. */
    public void expandDim(Stream s, int outer, int size, int inner, float scale, DeviceBuffer g, DeviceBuffer dx) {
        device.launch(s, "expand_dim", LaunchConfig.linear((long) outer * size * inner),
                KernelArgs.of().ptr(g).ptr(dx).i32(outer).i32(size).i32(inner).f32(scale));
    }

    /** dst (m floats) = src summed down to dst's shape; {@code meta} holds ndim ints of src's shape, then of dst's (1 where summed). */
    public void sumToShape(Stream s, int ndim, long m, DeviceBuffer src, DeviceBuffer dst, int[] meta) {
        device.launch(s, "sum_to_shape", LaunchConfig.linear(m), KernelArgs.of().ptr(src).ptr(dst).ptr(shapeTables.get(meta)).i32(ndim).i64(m));
    }

    /** How many distinct shape tables the broadcasting kernels have put on this device. */
    public int shapeTableCount() {
        return shapeTables.size();
    }

    // ---- elementwise arithmetic: op codes as elementwise.cu's BINARY_*, UNARY_*, SCALAR_*

    /** out = a op b over n floats of one shape; out may be a (in place). */
    public void binarySame(Stream s, int op, long n, DeviceBuffer a, DeviceBuffer b, DeviceBuffer out) {
        device.launch(s, "binary_same", LaunchConfig.linear(n), KernelArgs.of().ptr(a).ptr(b).ptr(out).i32(op).i64(n));
    }

    /** out (n floats) = a op b broadcast; {@code meta} holds ndim ints each of out's shape, a's strides and b's strides in it. */
    public void binaryBroadcast(Stream s, int op, int ndim, long n, DeviceBuffer a, DeviceBuffer b, DeviceBuffer out, int[] meta) {
        device.launch(s, "binary_broadcast", LaunchConfig.linear(n),
                KernelArgs.of().ptr(a).ptr(b).ptr(out).ptr(shapeTables.get(meta)).i32(ndim).i32(op).i64(n));
    }

    public void unaryForward(Stream s, int op, long n, DeviceBuffer x, DeviceBuffer y) {
        device.launch(s, "unary_forward", LaunchConfig.linear(n), KernelArgs.of().ptr(x).ptr(y).i32(op).i64(n));
    }

    public void unaryBackward(Stream s, int op, long n, DeviceBuffer x, DeviceBuffer y, DeviceBuffer g, DeviceBuffer dx) {
        device.launch(s, "unary_backward", LaunchConfig.linear(n), KernelArgs.of().ptr(x).ptr(y).ptr(g).ptr(dx).i32(op).i64(n));
    }

    /** y = x op c; y may be x (in place). */
    public void scalarForward(Stream s, int op, float c, long n, DeviceBuffer x, DeviceBuffer y) {
        device.launch(s, "scalar_forward", LaunchConfig.linear(n), KernelArgs.of().ptr(x).ptr(y).f32(c).i32(op).i64(n));
    }

    public void scalarBackward(Stream s, int op, float c, long n, DeviceBuffer x, DeviceBuffer g, DeviceBuffer dx) {
        device.launch(s, "scalar_backward", LaunchConfig.linear(n), KernelArgs.of().ptr(x).ptr(g).ptr(dx).f32(c).i32(op).i64(n));
    }

    // ---- mse_loss: terms (a - b)^2, summed and scaled for mean and sum; the gradient reads the upstream one on the device

    public void squaredDifference(Stream s, long n, DeviceBuffer a, DeviceBuffer b, DeviceBuffer out) {
        device.launch(s, "squared_difference", LaunchConfig.linear(n), KernelArgs.of().ptr(a).ptr(b).ptr(out).i64(n));
    }

    /** da = g * scale * (a - b) (g one float, or n floats times 2 when perElement); db = -da unless db is null. */
    public void mseBackward(Stream s, long n, DeviceBuffer a, DeviceBuffer b, DeviceBuffer g, DeviceBuffer da, DeviceBuffer db, float scale,
                            boolean perElement) {
        device.launch(s, "mse_backward", LaunchConfig.linear(n), KernelArgs.of().ptr(a).ptr(b).ptr(g).ptr(da).ptr(db == null ? da : db).i64(n)
                .f32(scale).i32(perElement ? 1 : 0).i32(db != null ? 1 : 0));
    }

    // ---- nll_loss over log-probabilities [n, c] and int64 targets

    /** rowLoss [n] = -logprobs[r, target[r]]; loss [1] = scale * their sum unless loss is null (reduction none). */
    public void nllForward(Stream s, int n, int c, DeviceBuffer logprobs, DeviceBuffer targets, DeviceBuffer rowLoss, DeviceBuffer loss, float scale) {
        device.launch(s, "nll_forward", LaunchConfig.linear(n), KernelArgs.of().ptr(logprobs).ptr(targets).ptr(rowLoss).i32(n).i32(c));
        if (loss != null) sumAll(s, n, rowLoss, loss, scale);
    }

    /** dx [n, c]: -g at each row's target, g the upstream gradient (per row when perElement, else one float times scale). */
    public void nllBackward(Stream s, int n, int c, DeviceBuffer targets, DeviceBuffer grad, DeviceBuffer dx, float scale, boolean perElement) {
        device.launch(s, "nll_backward", LaunchConfig.linear((long) n * c),
                KernelArgs.of().ptr(targets).ptr(grad).ptr(dx).i32(n).i32(c).f32(scale).i32(perElement ? 1 : 0));
    }

    // ---- any element type (dtypes.cu): conversion, the strided copy, comparisons, exact integer sums

    /** dst (n elements of {@code to}) = src (n elements of {@code from}) converted as the CPU's copy_. */
    public void convert(Stream s, long n, DeviceBuffer src, ElementType from, DeviceBuffer dst, ElementType to) {
        device.launch(s, "convert_dtype", LaunchConfig.linear(n), KernelArgs.of().ptr(src).i32(from.code()).ptr(dst).i32(to.code()).i64(n));
    }

    /**
     * Copies the elements of {@code shape} from src's layout to dst's (strides in elements, either may be a view's; a stride 0
     * broadcasts the source), each buffer starting at its tensor's first element: the gather behind contiguous(), cat, and
     * copy_ into a view. src and dst must not overlap.
     */
    public void stridedCopy(Stream s, int[] shape, int[] srcStrides, int[] dstStrides, int elemBytes, DeviceBuffer src, DeviceBuffer dst) {
        int nd = shape.length;
        long n = 1;
        for (int d : shape) n *= d;
        if (n == 0) return;
        int[] meta = new int[3 * nd];
        System.arraycopy(shape, 0, meta, 0, nd);
        System.arraycopy(srcStrides, 0, meta, nd, nd);
        System.arraycopy(dstStrides, 0, meta, 2 * nd, nd);
        device.launch(s, "strided_copy", LaunchConfig.linear(n),
                KernelArgs.of().ptr(src).ptr(dst).ptr(shapeTables.get(meta)).i32(nd).i32(elemBytes).i64(n));
    }

    /** x += c over n int64 elements (wrapping). */
    public void addLong(Stream s, long n, long c, DeviceBuffer x) {
        device.launch(s, "add_i64", LaunchConfig.linear(n), KernelArgs.of().ptr(x).i64(c).i64(n));
    }

    /** The comparison codes of dtypes.cu ({@code CMP_*}). */
    public static final int CMP_EQ = 0, CMP_NE = 1, CMP_LT = 2, CMP_LE = 3, CMP_GT = 4, CMP_GE = 5;

    /** out (n bools) = a op b broadcast; {@code meta} holds out's shape, a's strides and b's strides in it (ndim each). */
    public void compare(Stream s, int op, boolean asDouble, int ndim, long n, DeviceBuffer a, ElementType ta, DeviceBuffer b, ElementType tb,
                        DeviceBuffer out, int[] meta) {
        device.launch(s, "compare_broadcast", LaunchConfig.linear(n), KernelArgs.of().ptr(a).i32(ta.code()).ptr(b).i32(tb.code()).ptr(out)
                .ptr(shapeTables.get(meta)).i32(ndim).i32(op).i32(asDouble ? 1 : 0).i64(n));
    }

    /** out (n bools) = a op c, with c passed by value: as a double when asDouble, else as a long. */
    public void compareScalar(Stream s, int op, boolean asDouble, long n, DeviceBuffer a, ElementType ta, double c, long cLong, DeviceBuffer out) {
        device.launch(s, "compare_scalar", LaunchConfig.linear(n),
                KernelArgs.of().ptr(a).i32(ta.code()).ptr(out).f64(c).i64(cLong).i32(op).i32(asDouble ? 1 : 0).i64(n));
    }

    /** out[0] (int64) = the exact sum of n integer or bool elements (one block). */
    public void sumAllLong(Stream s, long n, DeviceBuffer x, ElementType type, DeviceBuffer out) {
        device.launch(s, "sum_all_i64", LaunchConfig.oneBlock(LaunchConfig.INT_SUM_THREADS), KernelArgs.of().ptr(x).i32(type.code()).ptr(out).i64(n));
    }

    /** out [outer, inner] (int64) = x [outer, size, inner] summed exactly over the middle dimension. */
    public void sumDimLong(Stream s, int outer, int size, int inner, DeviceBuffer x, ElementType type, DeviceBuffer out) {
        device.launch(s, "sum_dim_i64", LaunchConfig.linear((long) outer * inner),
                KernelArgs.of().ptr(x).i32(type.code()).ptr(out).i32(outer).i32(size).i32(inner));
    }

    // ---- the arithmetic of every dtype but float32 pairs (dtypes.cu), and float64 sums (reductions.cu)

    /** How {@code binary_typed}, {@code scalar_typed} and {@code unary_typed} compute (dtypes.cu's MODE_*): chosen from the result type. */
    public static final int MODE_DOUBLE = 0, MODE_FLOAT = 1, MODE_LONG = 2;

    /**
     * out (n elements of {@code to}) = a op b (elementwise.cu's BINARY_* codes) in {@code mode}; {@code meta} holds out's shape, a's
     * strides and b's strides in it (ndim each), or is null when a, b and out have one shape.
     */
    public void binaryTyped(Stream s, int op, int mode, long n, DeviceBuffer a, ElementType ta, DeviceBuffer b, ElementType tb, DeviceBuffer out,
                            ElementType to, int[] meta) {
        int ndim = meta == null ? 0 : meta.length / 3;
        // without a table the kernel reads no meta: a stands in (read-only; out would alias a pointer the kernel writes)
        device.launch(s, "binary_typed", LaunchConfig.linear(n), KernelArgs.of().ptr(a).i32(ta.code()).ptr(b).i32(tb.code()).ptr(out).i32(to.code())
                .ptr(meta == null ? a : shapeTables.get(meta)).i32(ndim).i32(op).i32(mode).i64(n));
    }

    /** y (n elements of {@code ty}) = x op c (SCALAR_* codes) in {@code mode}: c as a double or a float, or cLong in integers. */
    public void scalarTyped(Stream s, int op, int mode, long n, DeviceBuffer x, ElementType tx, DeviceBuffer y, ElementType ty, double c, long cLong) {
        device.launch(s, "scalar_typed", LaunchConfig.linear(n),
                KernelArgs.of().ptr(x).i32(tx.code()).ptr(y).i32(ty.code()).f64(c).i64(cLong).i32(op).i32(mode).i64(n));
    }

    /** y (n elements of {@code ty}) = f(x) (UNARY_* codes, 10 relu) in {@code mode}. */
    public void unaryTyped(Stream s, int op, int mode, long n, DeviceBuffer x, ElementType tx, DeviceBuffer y, ElementType ty) {
        device.launch(s, "unary_typed", LaunchConfig.linear(n), KernelArgs.of().ptr(x).i32(tx.code()).ptr(y).i32(ty.code()).i32(op).i32(mode).i64(n));
    }

    /** dx = g * f'(x), given the forward's output y; n doubles each. */
    public void unaryBackwardF64(Stream s, int op, long n, DeviceBuffer x, DeviceBuffer y, DeviceBuffer g, DeviceBuffer dx) {
        device.launch(s, "unary_backward_f64", LaunchConfig.linear(n), KernelArgs.of().ptr(x).ptr(y).ptr(g).ptr(dx).i32(op).i64(n));
    }

    /** dx = g * d(x op c)/dx; n doubles each. */
    public void scalarBackwardF64(Stream s, int op, double c, long n, DeviceBuffer x, DeviceBuffer g, DeviceBuffer dx) {
        device.launch(s, "scalar_backward_f64", LaunchConfig.linear(n), KernelArgs.of().ptr(x).ptr(g).ptr(dx).f64(c).i32(op).i64(n));
    }

    /** out[0] = scale * the sum of x's n doubles (one block: a fixed tree, deterministic). */
    public void sumAllF64(Stream s, long n, DeviceBuffer x, DeviceBuffer out, double scale) {
        device.launch(s, "sum_all_f64", LaunchConfig.oneBlock(LaunchConfig.SUM_THREADS), KernelArgs.of().ptr(x).ptr(out).i64(n).f64(scale));
    }

    /** out [outer, inner] = scale * x [outer, size, inner] summed over the middle dimension in order, in double. */
    public void sumDimF64(Stream s, int outer, int size, int inner, double scale, DeviceBuffer x, DeviceBuffer out) {
        device.launch(s, "sum_dim_f64", LaunchConfig.linear((long) outer * inner),
                KernelArgs.of().ptr(x).ptr(out).i32(outer).i32(size).i32(inner).f64(scale));
    }

    /** As {@link #sumToShape} in double. */
    public void sumToShapeF64(Stream s, int ndim, long m, DeviceBuffer src, DeviceBuffer dst, int[] meta) {
        device.launch(s, "sum_to_shape_f64", LaunchConfig.linear(m), KernelArgs.of().ptr(src).ptr(dst).ptr(shapeTables.get(meta)).i32(ndim).i64(m));
    }

    // ---- max and min with their indices (reductions.cu)

    /** values, indices (int64) [outer, inner] = the max (or min) of x [outer, size, inner] along the middle dimension, and where. */
    public void extremeDim(Stream s, int outer, int size, int inner, boolean min, DeviceBuffer x, DeviceBuffer values, DeviceBuffer indices) {
        device.launch(s, "extreme_dim", LaunchConfig.linear((long) outer * inner),
                KernelArgs.of().ptr(x).ptr(values).ptr(indices).i32(outer).i32(size).i32(inner).i32(min ? 1 : 0));
    }

    /** value[0], index[0] (int64) = the max (or min) of x's n floats and its flat index (one block). */
    public void extremeAll(Stream s, long n, boolean min, DeviceBuffer x, DeviceBuffer value, DeviceBuffer index) {
        device.launch(s, "extreme_all", LaunchConfig.oneBlock(LaunchConfig.EXTREME_THREADS),
                KernelArgs.of().ptr(x).ptr(value).ptr(index).i64(n).i32(min ? 1 : 0));
    }

    /** dx [outer, size, inner] = g [outer, inner] at each line's picked index, 0 elsewhere. */
    public void pickBackward(Stream s, int outer, int size, int inner, DeviceBuffer g, DeviceBuffer indices, DeviceBuffer dx) {
        device.launch(s, "pick_backward", LaunchConfig.linear((long) outer * size * inner),
                KernelArgs.of().ptr(g).ptr(indices).ptr(dx).i32(outer).i32(size).i32(inner));
    }

    // ---- batch norm over [n, c, inner] and dropout (normalization.cu)

    /** Training: mean and invstd [c] of the batch; the running statistics move by momentum unless they are null. */
    public void batchNormStats(Stream s, int n, int c, int inner, float eps, float momentum, DeviceBuffer x, DeviceBuffer mean, DeviceBuffer invstd,
                               DeviceBuffer runningMean, DeviceBuffer runningVar) {
        boolean update = runningMean != null;
        device.launch(s, "batch_norm_stats", LaunchConfig.perLine(c, LaunchConfig.BATCH_NORM_THREADS), KernelArgs.of().ptr(x).ptr(mean).ptr(invstd)
                .ptr(update ? runningMean : mean).ptr(update ? runningVar : invstd).i32(n).i32(c).i32(inner).f32(eps).f32(momentum).i32(update ? 1 : 0));
    }

    /** Evaluation: mean and invstd [c] from the running statistics. */
    public void batchNormEvalStats(Stream s, int c, float eps, DeviceBuffer runningMean, DeviceBuffer runningVar, DeviceBuffer mean, DeviceBuffer invstd) {
        device.launch(s, "batch_norm_eval_stats", LaunchConfig.linear(c), KernelArgs.of().ptr(runningMean).ptr(runningVar).ptr(mean).ptr(invstd).i32(c).f32(eps));
    }

    /** y = (x - mean) * invstd * weight + bias per channel; weight and bias may be null. */
    public void batchNormApply(Stream s, int n, int c, int inner, DeviceBuffer x, DeviceBuffer mean, DeviceBuffer invstd, DeviceBuffer weight,
                               DeviceBuffer bias, DeviceBuffer y) {
        long total = (long) n * c * inner;
        device.launch(s, "batch_norm_apply", LaunchConfig.linear(total), KernelArgs.of().ptr(x).ptr(y).ptr(mean).ptr(invstd)
                .ptr(weight == null ? mean : weight).ptr(bias == null ? mean : bias).i32(weight != null ? 1 : 0).i32(bias != null ? 1 : 0)
                .i64(total).i32(c).i32(inner));
    }

    /**
     * The gradients of batch norm: dw and db [c], and dx, from the upstream g; {@code sums} is scratch for 2c doubles. weight may
     * be null (gamma 1).
     */
    public void batchNormBackward(Stream s, int n, int c, int inner, boolean training, DeviceBuffer g, DeviceBuffer x, DeviceBuffer mean,
                                  DeviceBuffer invstd, DeviceBuffer weight, DeviceBuffer sums, DeviceBuffer dx, DeviceBuffer dw, DeviceBuffer db) {
        device.launch(s, "batch_norm_backward_reduce", LaunchConfig.perLine(c, LaunchConfig.BATCH_NORM_THREADS),
                KernelArgs.of().ptr(g).ptr(x).ptr(mean).ptr(invstd).ptr(sums).ptr(dw).ptr(db).i32(n).i32(c).i32(inner));
        long total = (long) n * c * inner;
        device.launch(s, "batch_norm_backward_input", LaunchConfig.linear(total), KernelArgs.of().ptr(g).ptr(x).ptr(mean).ptr(invstd)
                .ptr(weight == null ? mean : weight).i32(weight != null ? 1 : 0).ptr(sums).ptr(dx).i64(total).i32(c).i32(inner)
                .i64((long) n * inner).i32(training ? 1 : 0));
    }

    /**
     * y = x * (kept ? scale : 0), keep one byte per element; element i kept when the uniform number of (seed, offset + i) is
     * >= p, the seed and offset read from {@code rng} (two int64 in device memory), whose offset then moves past the n
     * counters ({@code rng_advance}): nothing per call comes from the host, so a replayed graph draws a new mask each time.
     */
    public void dropoutForward(Stream s, long n, float p, float scale, DeviceBuffer rng, DeviceBuffer x, DeviceBuffer y, DeviceBuffer keep) {
        device.launch(s, "dropout_forward", LaunchConfig.linear(n), KernelArgs.of().ptr(x).ptr(y).ptr(keep).i64(n).f32(p).f32(scale).ptr(rng));
        device.launch(s, "rng_advance", ONE_THREAD, KernelArgs.of().ptr(rng).i64(n));
    }

    public void dropoutBackward(Stream s, long n, float scale, DeviceBuffer g, DeviceBuffer keep, DeviceBuffer dx) {
        device.launch(s, "dropout_backward", LaunchConfig.linear(n), KernelArgs.of().ptr(g).ptr(keep).ptr(dx).i64(n).f32(scale));
    }

    // ---- optimizer updates

    /** One thread: the step counters and the generator offsets, advanced on the device. */
    private static final LaunchConfig ONE_THREAD = new LaunchConfig(1, 1, 1, 1, 1, 1, 0);

    /**
     * A parameter's step count ({@code step}, one float32 in device memory) plus one, on the device: the update enqueued
     * after it reads the advanced count, so a replayed graph steps it as the eager steps do.
     */
    public void stepCountIncrement(Stream s, DeviceBuffer step) {
        device.launch(s, "step_count_increment", ONE_THREAD, KernelArgs.of().ptr(step));
    }

    /** Plain SGD with momentum buffer {@code buf} (unused when momentum is 0); the learning rate read from {@code lr} (one float32). */
    public void sgdStep(Stream s, long n, DeviceBuffer p, DeviceBuffer g, DeviceBuffer buf, DeviceBuffer lr, float momentum, float dampening,
                        float weightDecay, boolean nesterov, boolean first) {
        device.launch(s, "sgd_step", LaunchConfig.linear(n), KernelArgs.of().ptr(p).ptr(g).ptr(buf == null ? p : buf).i64(n)
                .ptr(lr).f32(momentum).f32(dampening).f32(weightDecay).i32(nesterov ? 1 : 0).i32(first ? 1 : 0));
    }

    /**
     * Adam (decoupled = false) or AdamW (true), torch.optim's single-tensor rule; the learning rate and the step count (already
     * advanced for this step, 1 on the first) read from device memory, the bias corrections computed from them there.
     */
    public void adamStep(Stream s, long n, DeviceBuffer p, DeviceBuffer g, DeviceBuffer m, DeviceBuffer v, DeviceBuffer lr, DeviceBuffer step,
                         float beta1, float beta2, float eps, float weightDecay, boolean decoupled) {
        device.launch(s, "adam_step", LaunchConfig.linear(n), KernelArgs.of().ptr(p).ptr(g).ptr(m).ptr(v).i64(n).ptr(lr).ptr(step).f32(beta1)
                .f32(beta2).f32(eps).f32(weightDecay).i32(decoupled ? 1 : 0));
    }

    /** RMSprop; centred when {@code gradAvg} (the running mean of the gradient) is given; {@code buf} null without momentum; lr in device memory. */
    public void rmspropStep(Stream s, long n, DeviceBuffer p, DeviceBuffer g, DeviceBuffer v, DeviceBuffer buf, DeviceBuffer gradAvg, DeviceBuffer lr,
                            float alpha, float eps, float weightDecay, float momentum) {
        device.launch(s, "rmsprop_step", LaunchConfig.linear(n), KernelArgs.of().ptr(p).ptr(g).ptr(v).ptr(buf == null ? v : buf)
                .ptr(gradAvg == null ? v : gradAvg).i64(n).ptr(lr).f32(alpha).f32(eps).f32(weightDecay).f32(momentum).i32(gradAvg != null ? 1 : 0));
    }
}
