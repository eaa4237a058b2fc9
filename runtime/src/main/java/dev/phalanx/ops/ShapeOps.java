package dev.phalanx.ops;

import java.util.Arrays;
import java.util.List;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceStorage;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.HostStorage;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/**
 * Views (view, reshape, permute, transpose, narrow, slice, select, expand, unsqueeze, squeeze),
 * which share their input's storage, and the copies (clone, dtype conversion, cat), each with
 * how its gradient flows back.
 */
public final class ShapeOps {

    private ShapeOps() { }

    // ---------------------------------------------------------------- views

    /** Same storage, new shape (one -1 allowed); PyTorch's error where the strides cannot express it. */
    public static Tensor view(Tensor x, int[] shape) {
        int[] s = Shapes.inferView("view", shape, x.numel());
        int[] strides = viewStrides(x.shape(), x.stride(), s);
        if (strides == null) {
            throw new IllegalArgumentException("view size is not compatible with input tensor's size and stride (at least one dimension "
                    + "spans across two contiguous subspaces). Use .reshape(...) instead. (input shape " + Shapes.str(x.shape())
                    + ", strides " + Shapes.str(x.stride()) + ", requested shape " + Shapes.str(s) + ")");
        }
        return Tensor.view(x, s, strides, x.storageOffset(), new ReshapeBackward(x, "ViewBackward0"));
    }

    /** A view where the strides allow one, else a row-major copy viewed in the new shape. */
    public static Tensor reshape(Tensor x, int[] shape) {
        int[] s = Shapes.inferView("reshape", shape, x.numel());
        int[] strides = viewStrides(x.shape(), x.stride(), s);
        if (strides != null) return Tensor.view(x, s, strides, x.storageOffset(), new ReshapeBackward(x, "ViewBackward0"));
        Tensor copy = x.clone(); // on a device, gathered there
        return Tensor.view(copy, s, Shapes.strides(s), 0, new ReshapeBackward(copy, "UnsafeViewBackward0"));
    }

    /**
     * The strides that show a tensor of (oldShape, oldStrides) in newShape without copying, or
     * null if there are none: ATen's computeStride, which splits the old dimensions into runs that
     * are contiguous with each other and lets the new shape regroup within each run.
     */
    static int[] viewStrides(int[] oldShape, int[] oldStrides, int[] newShape) {
        int[] newStrides = new int[newShape.length];
        if (oldShape.length == 0 || Shapes.numel(oldShape) == 0) return Shapes.strides(newShape);
        int viewD = newShape.length - 1;
        long chunkBaseStride = oldStrides[oldStrides.length - 1];
        long tensorNumel = 1, viewNumel = 1;
        for (int tensorD = oldShape.length - 1; tensorD >= 0; tensorD--) {
            tensorNumel *= oldShape[tensorD];
            if (tensorD == 0 || (oldShape[tensorD - 1] != 1 && oldStrides[tensorD - 1] != tensorNumel * chunkBaseStride)) {
                while (viewD >= 0 && (viewNumel < tensorNumel || newShape[viewD] == 1)) {
                    newStrides[viewD] = (int) (viewNumel * chunkBaseStride);
                    viewNumel *= newShape[viewD];
                    viewD--;
                }
                if (viewNumel != tensorNumel) return null;
                if (tensorD > 0) {
                    chunkBaseStride = oldStrides[tensorD - 1];
                    tensorNumel = 1;
                    viewNumel = 1;
                }
            }
        }
        return viewD == -1 ? newStrides : null;
    }

    public static Tensor permute(Tensor x, int[] dims) {
        return permute(x, dims, "PermuteBackward0");
    }

    public static Tensor transpose(Tensor x, int dim0, int dim1, String backwardName) {
        int[] p = new int[x.dim()];
        for (int i = 0; i < p.length; i++) p[i] = i;
        int a = Shapes.wrapDim("transpose", dim0, x.dim()), b = Shapes.wrapDim("transpose", dim1, x.dim());
        p[a] = b;
        p[b] = a;
        return permute(x, p, backwardName);
    }

    private static Tensor permute(Tensor x, int[] dims, String backwardName) {
        int rank = x.dim();
        if (dims.length != rank) {
            throw new IllegalArgumentException("permute: number of dims don't match in permute: the tensor has " + rank
                    + " dimensions but " + dims.length + " were given");
        }
        int[] perm = new int[rank];
        boolean[] used = new boolean[rank];
        for (int i = 0; i < rank; i++) {
            perm[i] = Shapes.wrapDim("permute", dims[i], rank);
            if (used[perm[i]]) throw new IllegalArgumentException("permute(): duplicate dims are not allowed.");
            used[perm[i]] = true;
        }
        int[] in = x.shape(), inStrides = x.stride(), out = new int[rank], strides = new int[rank];
        for (int i = 0; i < rank; i++) {
            out[i] = in[perm[i]];
            strides[i] = inStrides[perm[i]];
        }
        return Tensor.view(x, out, strides, x.storageOffset(), new PermuteBackward(x, perm, backwardName));
    }

    public static Tensor narrow(Tensor x, int dim, int start, int length) {
        int d = Shapes.wrapDim("narrow", dim, x.dim());
        int size = x.dim() == 0 ? 1 : x.size(d);
        if (start < 0 || length < 0 || start + length > size) {
            throw new IndexOutOfBoundsException("narrow: start (" + start + ") + length (" + length + ") exceeds dimension size ("
                    + size + ") of dimension " + dim + " of shape " + Shapes.str(x.shape()));
        }
        return slice(x, d, start, start + length, 1, "SliceBackward0");
    }

    /** {@code x[..., start:end:step]} along dim; bounds clamped as Python's slices are. */
    public static Tensor slice(Tensor x, int dim, int start, int end, int step) {
        if (step <= 0) throw new IllegalArgumentException("slice step must be positive, got " + step);
        int d = Shapes.wrapDim("slice", dim, x.dim());
        int size = x.size(d);
        int s = Math.min(size, Math.max(0, start < 0 ? start + size : start));
        int e = Math.min(size, Math.max(s, end < 0 ? end + size : end));
        return slice(x, d, s, e, step, "SliceBackward0");
    }

    private static Tensor slice(Tensor x, int d, int start, int end, int step, String name) {
        int[] shape = x.shape(), strides = x.stride();
        int offset = x.storageOffset() + start * strides[d];
        shape[d] = (end - start + step - 1) / step;
        strides[d] *= step;
        return Tensor.view(x, shape, strides, offset, new ScatterBackward(x, name, z -> slice(z, d, start, end, step, name)));
    }

    public static Tensor select(Tensor x, int dim, int index) {
        if (x.dim() == 0) throw new IndexOutOfBoundsException("select() cannot be applied to a 0-dim tensor.");
        int d = Shapes.wrapDim("select", dim, x.dim());
        int size = x.size(d);
        if (index < -size || index >= size) {
            throw new IndexOutOfBoundsException("select(): index " + index + " out of range for tensor of size " + Shapes.str(x.shape())
                    + " at dimension " + d);
        }
        int i = index < 0 ? index + size : index;
        int[] shape = x.shape(), strides = x.stride();
        int[] ns = new int[shape.length - 1], nst = new int[shape.length - 1];
        for (int k = 0, j = 0; k < shape.length; k++) {
            if (k == d) continue;
            ns[j] = shape[k];
            nst[j++] = strides[k];
        }
        return Tensor.view(x, ns, nst, x.storageOffset() + i * strides[d], new ScatterBackward(x, "SelectBackward0", z -> select(z, d, i)));
    }

    public static Tensor unsqueeze(Tensor x, int dim) {
        int d = Shapes.wrapDim("unsqueeze", dim, x.dim() + 1);
        int[] shape = x.shape(), strides = x.stride();
        int[] ns = new int[shape.length + 1], nst = new int[shape.length + 1];
        for (int i = 0, k = 0; i < ns.length; i++) {
            if (i == d) {
                ns[i] = 1;
                nst[i] = d < shape.length ? strides[d] * shape[d] : 1;
            } else {
                ns[i] = shape[k];
                nst[i] = strides[k++];
            }
        }
        return Tensor.view(x, ns, nst, x.storageOffset(), new ReshapeBackward(x, "UnsqueezeBackward0"));
    }

    public static Tensor squeeze(Tensor x, int dim) {
        int d = Shapes.wrapDim("squeeze", dim, x.dim());
        if (x.dim() == 0 || x.size(d) != 1) return Tensor.view(x, x.shape(), x.stride(), x.storageOffset(), new ReshapeBackward(x, "SqueezeBackward1"));
        return dropDims(x, i -> i == d, "SqueezeBackward1");
    }

    public static Tensor squeeze(Tensor x) {
        int[] shape = x.shape();
        return dropDims(x, i -> shape[i] == 1, "SqueezeBackward0");
    }

    private static Tensor dropDims(Tensor x, java.util.function.IntPredicate drop, String name) {
        int[] shape = x.shape(), strides = x.stride();
        int keep = 0;
        for (int i = 0; i < shape.length; i++) if (!drop.test(i)) keep++;
        int[] ns = new int[keep], nst = new int[keep];
        for (int i = 0, k = 0; i < shape.length; i++) {
            if (drop.test(i)) continue;
            ns[k] = shape[i];
            nst[k++] = strides[i];
        }
        return Tensor.view(x, ns, nst, x.storageOffset(), new ReshapeBackward(x, name));
    }

    /** Repeats dimensions of size 1 without copying (stride 0); -1 keeps a size; new dimensions go in front. */
    public static Tensor expand(Tensor x, int[] sizes) {
        int[] shape = x.shape(), strides = x.stride();
        if (sizes.length < shape.length) {
            throw new IllegalArgumentException("expand: the number of sizes provided (" + sizes.length + ") must be greater or equal to the "
                    + "number of dimensions in the tensor (" + shape.length + ")");
        }
        int lead = sizes.length - shape.length;
        int[] ns = new int[sizes.length], nst = new int[sizes.length];
        for (int i = 0; i < sizes.length; i++) {
            if (i < lead) {
                if (sizes[i] < 0) throw new IllegalArgumentException("expand: the expanded size " + sizes[i] + " is not allowed in a leading, non-existing dimension " + i);
                ns[i] = sizes[i];
                continue;
            }
            int own = shape[i - lead];
            int want = sizes[i] == -1 ? own : sizes[i];
            if (own == want) {
                ns[i] = own;
                nst[i] = strides[i - lead];
            } else if (own == 1) {
                ns[i] = want;
            } else {
                throw new IllegalArgumentException("expand: The expanded size of the tensor (" + want + ") must match the existing size (" + own
                        + ") at non-singleton dimension " + i + ".  Target sizes: " + Shapes.str(sizes) + ".  Tensor sizes: " + Shapes.str(shape));
            }
        }
        return Tensor.view(x, ns, nst, x.storageOffset(), new ExpandBackward(x));
    }

    // ---------------------------------------------------------------- copies

    /** A row-major copy in a storage of its own. */
    public static Tensor clone(Tensor x) {
        return Tensor.result(x.dtype(), copyArray(x, x.dtype()), x.shape(), new PassBackward(x, "CloneBackward0"));
    }

    /** x converted to another dtype (a copy); gradients flow back between floating types. */
    public static Tensor convert(Tensor x, DType target) {
        Node node = target.isFloatingPoint() && x.dtype().isFloatingPoint() ? new ToCopyBackward(x) : null;
        if (!x.device().isCpu()) return Tensor.result(DeviceTensors.converted(x, target), x.shape(), node); // one kernel on the device
        return Tensor.result(target, copyArray(x, target), x.shape(), node);
    }

    private static Object copyArray(Tensor x, DType target) {
        Tensor out = Tensor.zeros(target, x.shape());
        try (GradMode.Scope ignored = GradMode.noGrad()) {
            out.copy_(x);
        }
        return ((HostStorage) out.storage()).array();
    }

    public static Tensor cat(List<Tensor> tensors, int dim) {
        if (tensors.isEmpty()) throw new IllegalArgumentException("cat(): expected a non-empty list of Tensors");
        Tensor first = tensors.get(0);
        int d = Shapes.wrapDim("cat", dim, first.dim());
        int[] shape = first.shape();
        int total = 0;
        DType dtype = first.dtype(); // PyTorch's cat promotes: cat([int64, float32]) is float32
        for (int t = 0; t < tensors.size(); t++) {
            Tensor x = tensors.get(t);
            Tensor.checkSameDevice("cat", first, x);
            int[] s = x.shape();
            if (s.length != shape.length) {
                throw new IllegalArgumentException("cat(): Tensors must have same number of dimensions: got " + shape.length + " and " + s.length
                        + " (tensor " + t + " has shape " + Shapes.str(s) + ")");
            }
            dtype = DType.promote(dtype, x.dtype());
            for (int i = 0; i < s.length; i++) {
                if (i != d && s[i] != shape[i]) {
                    throw new IllegalArgumentException("cat(): Sizes of tensors must match except in dimension " + d + ". Expected size "
                            + shape[i] + " but got size " + s[i] + " for tensor number " + t + " in the list.");
                }
            }
            total += s[d];
        }
        shape[d] = total;
        // on a device each piece goes into its slice of the output by one strided copy (converted on the device first where
        // its dtype differs); on the cpu by the host copy
        Tensor out = Tensor.zeros(first.device(), dtype, shape);
        try (GradMode.Scope ignored = GradMode.noGrad()) {
            int offset = 0;
            for (Tensor x : tensors) {
                out.narrow(d, offset, x.size(d)).copy_(x);
                offset += x.size(d);
            }
        }
        Node node = new CatBackward(tensors.toArray(new Tensor[0]), d);
        if (!first.device().isCpu()) return Tensor.result((DeviceStorage) out.storage(), shape, node);
        return Tensor.result(dtype, ((HostStorage) out.storage()).array(), shape, node);
    }

    // ---------------------------------------------------------------- backward functions

    /** view, reshape, unsqueeze, squeeze: the gradient takes the input's shape back. */
    private static final class ReshapeBackward extends Node.ReadsNoInputs {
        private final String name;
        private final int[] inShape;

        ReshapeBackward(Tensor x, String name) {
            super(x);
            this.name = name;
            this.inShape = x.shape();
        }

        @Override
        public String name() {
            return name;
        }

        /** Returns g or a view of it, keeps nothing. */
        @Override
        protected boolean forgetsGradOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor g) {
            return new Tensor[] {g.reshape(inShape)};
        }
    }

    private static final class PermuteBackward extends Node.ReadsNoInputs {
        private final int[] perm;
        private final String name;

        PermuteBackward(Tensor x, int[] perm, String name) {
            super(x);
            this.perm = perm;
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        /** Returns g or a view of it, keeps nothing. */
        @Override
        protected boolean forgetsGradOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor g) {
            int[] inverse = new int[perm.length];
            for (int i = 0; i < perm.length; i++) inverse[perm[i]] = i;
            return new Tensor[] {g.permute(inverse)};
        }
    }

    /** narrow, slice, select: the gradient lands in the same view of a zero tensor of the input's shape. */
    private static final class ScatterBackward extends Node.ReadsNoInputs {
        private final String name;
        private final java.util.function.UnaryOperator<Tensor> sameView;
        private final int[] inShape;
        private final DType dtype;

        ScatterBackward(Tensor x, String name, java.util.function.UnaryOperator<Tensor> sameView) {
            super(x);
            this.name = name;
            this.sameView = sameView;
            this.inShape = x.shape();
            this.dtype = x.dtype();
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Tensor[] backward(Tensor g) {
            Tensor dx = Tensor.zeros(g.device(), dtype, inShape); // on g's device: a device gradient never goes through the host
            sameView.apply(dx).copy_(g);
            return new Tensor[] {dx};
        }
    }

    private static final class ExpandBackward extends Node.ReadsNoInputs {
        private final int[] inShape;

        ExpandBackward(Tensor x) {
            super(x);
            this.inShape = x.shape();
        }

        @Override
        public String name() {
            return "ExpandBackward0";
        }

        @Override
        public Tensor[] backward(Tensor g) {
            return new Tensor[] {Binary.sumTo(g, inShape)};
        }
    }

    /** clone: the gradient passes through unchanged. */
    private static final class PassBackward extends Node.ReadsNoInputs {
        private final String name;

        PassBackward(Tensor x, String name) {
            super(x);
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        /** Returns g or a view of it, keeps nothing. */
        @Override
        protected boolean forgetsGradOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor g) {
            return new Tensor[] {g};
        }
    }

    /** to(dtype) between floating types: the gradient is converted back. */
    private static final class ToCopyBackward extends Node.ReadsNoInputs {
        private final DType from;

        ToCopyBackward(Tensor x) {
            super(x);
            this.from = x.dtype();
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

    private static final class CatBackward extends Node.ReadsNoInputs {
        private final int dim;
        private final int[] sizes;
        private final DType[] dtypes;

        CatBackward(Tensor[] inputs, int dim) {
            super(inputs);
            this.dim = dim;
            this.sizes = new int[inputs.length];
            this.dtypes = new DType[inputs.length];
            for (int i = 0; i < inputs.length; i++) {
                sizes[i] = inputs[i].size(dim);
                dtypes[i] = inputs[i].dtype();
            }
        }

        @Override
        public String name() {
            return "CatBackward0";
        }

        @Override
        public Tensor[] backward(Tensor g) {
            Tensor[] out = new Tensor[sizes.length];
            int offset = 0;
            for (int i = 0; i < sizes.length; i++) {
                if (needsGrad(i)) out[i] = g.narrow(dim, offset, sizes[i]).to(dtypes[i]); // back to each input's own dtype
                offset += sizes[i];
            }
            return out;
        }
    }

    static boolean sameShape(Tensor a, Tensor b) {
        return Arrays.equals(a.shape(), b.shape());
    }
}
