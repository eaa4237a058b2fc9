package dev.phalanx.ops;

import java.util.List;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/** view, permute, narrow and cat: what they do and how their gradients flow back. */
public final class ShapeOps {

    private ShapeOps() { }

    /** Same data, new shape (one -1 allowed). */
    public static Tensor view(Tensor x, int[] shape) {
        int[] s = Shapes.inferView("view", shape, x.numel());
        if (x.dtype() == DType.INT64) return Tensor.ofLongs(x.longData(), s);
        return Tensor.result(x.data(), s, new ViewBackward(x));
    }

    public static Tensor permute(Tensor x, int[] dims) {
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
        int[] in = x.shape(), inStrides = Shapes.strides(in), out = new int[rank], srcStride = new int[rank];
        for (int i = 0; i < rank; i++) {
            out[i] = in[perm[i]];
            srcStride[i] = inStrides[perm[i]];
        }
        float[] src = x.toFloat().data(), dst = new float[src.length];
        int[] idx = new int[rank];
        int si = 0;
        for (int o = 0; o < dst.length; o++) {
            dst[o] = src[si];
            for (int d = rank - 1; d >= 0; d--) {
                idx[d]++;
                si += srcStride[d];
                if (idx[d] < out[d]) break;
                si -= srcStride[d] * out[d];
                idx[d] = 0;
            }
        }
        return Tensor.result(dst, out, new PermuteBackward(x, perm));
    }

    public static Tensor narrow(Tensor x, int dim, int start, int length) {
        Reduce.Axis ax = Reduce.Axis.of("narrow", x, dim);
        if (start < 0 || length < 0 || start + length > ax.size()) {
            throw new IndexOutOfBoundsException("narrow: start (" + start + ") + length (" + length + ") exceeds dimension size ("
                    + ax.size() + ") of dimension " + dim + " of shape " + Shapes.str(x.shape()));
        }
        int[] shape = x.shape();
        int d = Shapes.wrapDim("narrow", dim, shape.length);
        shape[d] = length;
        int block = length * ax.inner();
        if (x.dtype() == DType.INT64) {
            long[] src = x.longData(), dst = new long[ax.outer() * block];
            for (int o = 0; o < ax.outer(); o++) System.arraycopy(src, (o * ax.size() + start) * ax.inner(), dst, o * block, block);
            return Tensor.ofLongs(dst, shape);
        }
        float[] src = x.data(), dst = new float[ax.outer() * block];
        for (int o = 0; o < ax.outer(); o++) System.arraycopy(src, (o * ax.size() + start) * ax.inner(), dst, o * block, block);
        return Tensor.result(dst, shape, new NarrowBackward(x, ax, start, length));
    }

    public static Tensor cat(List<Tensor> tensors, int dim) {
        if (tensors.isEmpty()) throw new IllegalArgumentException("cat(): expected a non-empty list of Tensors");
        Tensor first = tensors.get(0);
        int d = Shapes.wrapDim("cat", dim, first.dim());
        int[] shape = first.shape();
        int total = 0;
        for (int t = 0; t < tensors.size(); t++) {
            Tensor x = tensors.get(t);
            Tensor.checkSameDevice("cat", first, x);
            int[] s = x.shape();
            if (s.length != shape.length || x.dtype() != first.dtype()) {
                throw new IllegalArgumentException("cat(): tensor " + t + " has shape " + Shapes.str(s) + " and dtype " + x.dtype().torchName()
                        + ", expected " + shape.length + " dimensions and " + first.dtype().torchName());
            }
            for (int i = 0; i < s.length; i++) {
                if (i != d && s[i] != shape[i]) {
                    throw new IllegalArgumentException("cat(): Sizes of tensors must match except in dimension " + d + ". Expected size "
                            + shape[i] + " but got size " + s[i] + " for tensor number " + t + " in the list.");
                }
            }
            total += s[d];
        }
        shape[d] = total;
        int outer = 1, inner = 1;
        for (int i = 0; i < d; i++) outer *= shape[i];
        for (int i = d + 1; i < shape.length; i++) inner *= shape[i];
        boolean longs = first.dtype() == DType.INT64;
        float[] fd = longs ? null : new float[Shapes.numel(shape)];
        long[] ld = longs ? new long[Shapes.numel(shape)] : null;
        int offset = 0;
        for (Tensor x : tensors) {
            int block = x.size(d) * inner;
            for (int o = 0; o < outer; o++) {
                if (longs) System.arraycopy(x.longData(), o * block, ld, o * total * inner + offset, block);
                else System.arraycopy(x.data(), o * block, fd, o * total * inner + offset, block);
            }
            offset += block;
        }
        if (longs) return Tensor.ofLongs(ld, shape);
        return Tensor.result(fd, shape, new CatBackward(tensors.toArray(new Tensor[0]), d));
    }

    private static final class ViewBackward extends Node {
        ViewBackward(Tensor x) {
            super(x);
        }

        @Override
        public String name() {
            return "ViewBackward0";
        }

        @Override
        public Tensor[] backward(Tensor g) {
            return new Tensor[] {g.view(inputs()[0].shape())};
        }
    }

    private static final class PermuteBackward extends Node {
        private final int[] perm;

        PermuteBackward(Tensor x, int[] perm) {
            super(x);
            this.perm = perm;
        }

        @Override
        public String name() {
            return "PermuteBackward0";
        }

        @Override
        public Tensor[] backward(Tensor g) {
            int[] inverse = new int[perm.length];
            for (int i = 0; i < perm.length; i++) inverse[perm[i]] = i;
            return new Tensor[] {g.permute(inverse)};
        }
    }

    private static final class NarrowBackward extends Node {
        private final Reduce.Axis ax;
        private final int start, length;

        NarrowBackward(Tensor x, Reduce.Axis ax, int start, int length) {
            super(x);
            this.ax = ax;
            this.start = start;
            this.length = length;
        }

        @Override
        public String name() {
            return "SliceBackward0";
        }

        @Override
        public Tensor[] backward(Tensor g) {
            float[] gd = g.data(), dx = new float[ax.outer() * ax.size() * ax.inner()];
            int block = length * ax.inner();
            for (int o = 0; o < ax.outer(); o++) System.arraycopy(gd, o * block, dx, (o * ax.size() + start) * ax.inner(), block);
            return new Tensor[] {Tensor.of(dx, inputs()[0].shape())};
        }
    }

    private static final class CatBackward extends Node {
        private final int dim;

        CatBackward(Tensor[] inputs, int dim) {
            super(inputs);
            this.dim = dim;
        }

        @Override
        public String name() {
            return "CatBackward0";
        }

        @Override
        public Tensor[] backward(Tensor g) {
            Tensor[] in = inputs();
            Tensor[] out = new Tensor[in.length];
            int offset = 0;
            for (int i = 0; i < in.length; i++) {
                int len = in[i].size(dim);
                if (needsGrad(i)) out[i] = g.narrow(dim, offset, len);
                offset += len;
            }
            return out;
        }
    }
}
