package dev.phalanx.ops;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Node;
import dev.phalanx.kernels.cpu.PoolGeometry;
import dev.phalanx.kernels.cpu.PoolKernels;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/** Max, average and adaptive-average pooling over NCHW (or CHW) tensors, with gradients. */
public final class PoolOps {

    private PoolOps() { }

    /**
     * What {@code max_pool2d(..., return_indices=True)} returns. The int64 indices tensor is
     * built on first use: {@code F.maxPool2d} and {@code MaxPool2d} never ask for it, and
     * converting every step's indices to int64 cost a few percent of a LeNet step.
     */
    public static final class MaxPoolResult {
        private final Tensor output;
        private final java.util.function.Supplier<Tensor> indicesOf;
        private Tensor indices;

        MaxPoolResult(Tensor output, java.util.function.Supplier<Tensor> indices) {
            this.output = output;
            this.indicesOf = indices;
        }

        public Tensor output() {
            return output;
        }

        /** PyTorch's flat indices within each input plane, int64, shaped as the output. */
        public synchronized Tensor indices() {
            if (indices == null) indices = indicesOf.get();
            return indices;
        }
    }

    /** Refuses what pooling cannot take; a floating dtype other than float32 is converted by the caller (Float32Edge). */
    private static int[] checkInput(String op, Tensor x) {
        int[] s = x.shape();
        if (s.length == 3) return new int[] {1, s[0], s[1], s[2]};
        if (s.length != 4) throw new IllegalArgumentException(op + ": Expected 3D or 4D (batch mode) tensor for input, got " + Shapes.str(s));
        return s;
    }

    private static int[] outShape(Tensor x, int oh, int ow) {
        int[] s = x.shape();
        s[s.length - 2] = oh;
        s[s.length - 1] = ow;
        return s;
    }

    /**
     * {@code max_pool2d}'s output alone ({@code F.maxPool2d}, {@code MaxPool2d}): where no
     * gradient will be recorded (inference, or an input that needs none) the kernel skips the
     * indices, which nothing could ask for; the output is the same bits either way.
     */
    public static Tensor maxPool2dOutput(Tensor x, int kh, int kw, int sh, int sw, int ph, int pw) {
        if (x.dtype() != DType.FLOAT32 || !x.device().isCpu()) return maxPool2d(x, kh, kw, sh, sw, ph, pw).output();
        int[] s = checkInput("max_pool2d", x);
        PoolGeometry g = new PoolGeometry(s[0] * s[1], s[2], s[3], kh, kw, sh, sw, ph, pw);
        float[] out = new float[g.planes() * g.oh() * g.ow()];
        if (!(GradMode.isEnabled() && x.requiresGrad())) {
            PoolKernels.maxForward(Backends.cpu(), g, x.contiguousFloats(), out, null);
            return Tensor.of(out, outShape(x, g.oh(), g.ow()));
        }
        // the indices are the node's alone (no MaxPoolResult hands them out): back to the pool once backward has used them
        int[] idx = Backends.cpu().buffers().ints(out.length); // the kernel writes every index
        PoolKernels.maxForward(Backends.cpu(), g, x.contiguousFloats(), out, idx);
        return Tensor.result(out, outShape(x, g.oh(), g.ow()), new MaxPoolBackward(x, g, idx, true));
    }

    public static MaxPoolResult maxPool2d(Tensor x, int kh, int kw, int sh, int sw, int ph, int pw) {
        DType dtype = Float32Edge.dtype("max_pool2d", x);
        if (dtype != DType.FLOAT32) {
            MaxPoolResult r = maxPool2d(Float32Edge.in(x), kh, kw, sh, sw, ph, pw);
            return new MaxPoolResult(Float32Edge.out(r.output(), dtype), r::indices);
        }
        int[] s = checkInput("max_pool2d", x);
        PoolGeometry g = new PoolGeometry(s[0] * s[1], s[2], s[3], kh, kw, sh, sw, ph, pw);
        if (!x.device().isCpu()) return DeviceLayers.maxPool2d(x, g, outShape(x, g.oh(), g.ow()));
        float[] out = new float[g.planes() * g.oh() * g.ow()];
        int[] idx = new int[out.length];
        PoolKernels.maxForward(Backends.cpu(), g, x.contiguousFloats(), out, idx);
        int[] shape = outShape(x, g.oh(), g.ow());
        Tensor y = Tensor.result(out, shape, new MaxPoolBackward(x, g, idx, false));
        return new MaxPoolResult(y, () -> {
            long[] li = new long[idx.length];
            for (int i = 0; i < idx.length; i++) li[i] = idx[i];
            return Tensor.ofLongs(li, shape);
        });
    }

    public static Tensor avgPool2d(Tensor x, int kh, int kw, int sh, int sw, int ph, int pw) {
        DType dtype = Float32Edge.dtype("avg_pool2d", x);
        if (dtype != DType.FLOAT32) return Float32Edge.out(avgPool2d(Float32Edge.in(x), kh, kw, sh, sw, ph, pw), dtype);
        int[] s = checkInput("avg_pool2d", x);
        PoolGeometry g = new PoolGeometry(s[0] * s[1], s[2], s[3], kh, kw, sh, sw, ph, pw);
        if (!x.device().isCpu()) return DeviceLayers.avgPool2d(x, g, outShape(x, g.oh(), g.ow()));
        float[] out = new float[g.planes() * g.oh() * g.ow()];
        PoolKernels.avgForward(Backends.cpu(), g, x.contiguousFloats(), out);
        return Tensor.result(out, outShape(x, g.oh(), g.ow()), new AvgPoolBackward(x, g));
    }

    public static Tensor adaptiveAvgPool2d(Tensor x, int oh, int ow) {
        DType dtype = Float32Edge.dtype("adaptive_avg_pool2d", x);
        if (dtype != DType.FLOAT32) return Float32Edge.out(adaptiveAvgPool2d(Float32Edge.in(x), oh, ow), dtype);
        int[] s = checkInput("adaptive_avg_pool2d", x);
        if (oh < 1 || ow < 1) throw new IllegalArgumentException("adaptive_avg_pool2d: output size must be >= 1, got (" + oh + ", " + ow + ")");
        if (!x.device().isCpu()) return DeviceLayers.adaptiveAvgPool2d(x, s[0] * s[1], s[2], s[3], oh, ow, outShape(x, oh, ow));
        float[] out = new float[s[0] * s[1] * oh * ow];
        PoolKernels.adaptiveAvgForward(Backends.cpu(), s[0] * s[1], s[2], s[3], oh, ow, x.contiguousFloats(), out);
        return Tensor.result(out, outShape(x, oh, ow), new AdaptiveAvgBackward(x, s, oh, ow));
    }

    private static final class MaxPoolBackward extends Node {
        private final PoolGeometry g;
        private int[] indices;
        /** Nothing but this node holds the indices (F.maxPool2d's path), so they go back to the pool on release. */
        private final boolean indicesPrivate;

        MaxPoolBackward(Tensor x, PoolGeometry g, int[] indices, boolean indicesPrivate) {
            super(x);
            this.g = g;
            this.indices = indices;
            this.indicesPrivate = indicesPrivate;
        }

        @Override
        protected void releaseSaved() {
            if (indicesPrivate && indices != null) {
                Backends.cpu().buffers().recycle(indices);
                indices = null;
            }
        }

        @Override
        public String name() {
            return "MaxPool2DWithIndicesBackward0";
        }

        @Override
        protected boolean forgetsGradOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            float[] dx = Backends.cpu().buffers().floats(inputs()[0].numel()); // the kernel writes every element
            PoolKernels.maxBackward(Backends.cpu(), g, grad.contiguousFloats(), indices, dx);
            return new Tensor[] {Tensor.pooledGradient(dx, inputs()[0].shape())};
        }
    }

    private static final class AvgPoolBackward extends Node {
        private final PoolGeometry g;

        AvgPoolBackward(Tensor x, PoolGeometry g) {
            super(x);
            this.g = g;
        }

        @Override
        public String name() {
            return "AvgPool2DBackward0";
        }

        @Override
        protected boolean forgetsGradOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            float[] dx = Backends.cpu().buffers().floats(inputs()[0].numel()); // the kernel writes every element
            PoolKernels.avgBackward(Backends.cpu(), g, grad.contiguousFloats(), dx);
            return new Tensor[] {Tensor.pooledGradient(dx, inputs()[0].shape())};
        }
    }

    private static final class AdaptiveAvgBackward extends Node {
        private final int[] s;
        private final int oh, ow;

        AdaptiveAvgBackward(Tensor x, int[] s, int oh, int ow) {
            super(x);
            this.s = s;
            this.oh = oh;
            this.ow = ow;
        }

        @Override
        public String name() {
            return "AdaptiveAvgPool2DBackward0";
        }

        @Override
        protected boolean forgetsGradOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            float[] dx = Backends.cpu().buffers().floats(inputs()[0].numel()); // the kernel writes every element
            PoolKernels.adaptiveAvgBackward(Backends.cpu(), s[0] * s[1], s[2], s[3], oh, ow, grad.contiguousFloats(), dx);
            return new Tensor[] {Tensor.pooledGradient(dx, inputs()[0].shape())};
        }
    }
}
