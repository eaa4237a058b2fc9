package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.cpu.BufferPool;
import dev.phalanx.kernels.cpu.ConvGeometry;
import dev.phalanx.kernels.cpu.ConvKernels;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Tensor;

/** 2-d convolution (NCHW, zero padding): forward, backward-data and backward-weight. */
public final class Conv2dOp {

    private Conv2dOp() { }

    public static Tensor apply(Tensor x, Tensor weight, Tensor bias, int sh, int sw, int ph, int pw) {
        Tensor.checkSameDevice("conv2d", x, weight);
        DType dtype = Float32Edge.dtype("conv2d", x, weight, bias);
        if (dtype != DType.FLOAT32) {
            return Float32Edge.out(apply(Float32Edge.in(x), Float32Edge.in(weight), Float32Edge.in(bias), sh, sw, ph, pw), dtype);
        }
        int[] ws = weight.shape(), xs = x.shape();
        if (ws.length != 4) throw new IllegalArgumentException("conv2d: weight must be 4-D [out, in, kh, kw], got " + Shapes.str(ws));
        if (xs.length != 4) {
            throw new IllegalArgumentException("conv2d: Expected 4-dimensional input for 4-dimensional weight " + Shapes.str(ws)
                    + ", but got " + xs.length + "-dimensional input of size " + Shapes.str(xs) + " instead");
        }
        if (xs[1] != ws[1]) {
            throw new IllegalArgumentException("conv2d: Given groups=1, weight of size " + Shapes.str(ws) + ", expected input"
                    + Shapes.str(xs) + " to have " + ws[1] + " channels, but got " + xs[1] + " channels instead");
        }
        if (bias != null && (bias.dim() != 1 || bias.size(0) != ws[0])) {
            throw new IllegalArgumentException("conv2d: bias of shape " + Shapes.str(bias.shape()) + " does not match " + ws[0] + " output channels");
        }
        ConvGeometry g = new ConvGeometry(xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], sh, sw, ph, pw);
        if (!x.device().isCpu()) return DeviceLayers.conv2d(x, weight, bias, g);
        Reproducible.Shard shard = Reproducible.current(); // reproducible mode (#13): images one by one, sums along the tree
        if (shard != null) return SampleOrdered.conv2d(shard, x, weight, bias, g);
        float[] out = new float[g.n() * g.outImage()];
        ConvKernels.forward(Backends.cpu(), g, x.contiguousFloats(), weight.contiguousFloats(), bias == null ? null : bias.contiguousFloats(), out);
        return Tensor.result(out, new int[] {g.n(), g.cout(), g.oh(), g.ow()}, new ConvolutionBackward(x, weight, bias, g));
    }

    private static final class ConvolutionBackward extends Node {
        private final ConvGeometry g;

        ConvolutionBackward(Tensor x, Tensor w, Tensor b, ConvGeometry g) {
            super(x, w, b);
            this.g = g;
        }

        @Override
        public String name() {
            return "ConvolutionBackward0";
        }

        @Override
        protected boolean savesInput(int input) {
            return input < 2; // the bias's values are not needed
        }

        @Override
        protected boolean forgetsGradOutput() {
            return true;
        }

        /** The kernels overwrite every element of dx, dw and db, so the arrays come from the backend's pool. */
        @Override
        public Tensor[] backward(Tensor grad) {
            Tensor x = inputs()[0], w = inputs()[1];
            Tensor gx = null, gw = null, gb = null;
            BufferPool pool = Backends.cpu().buffers();
            if (needsGrad(0)) {
                float[] dx = pool.floats(x.numel());
                ConvKernels.backwardData(Backends.cpu(), g, grad.contiguousFloats(), w.contiguousFloats(), dx);
                gx = Tensor.pooledGradient(dx, x.shape());
            }
            if (needsGrad(1) || needsGrad(2)) {
                float[] dw = pool.floats(w.numel());
                float[] db = needsGrad(2) ? pool.floats(g.cout()) : null;
                ConvKernels.backwardWeight(Backends.cpu(), g, x.contiguousFloats(), grad.contiguousFloats(), dw, db);
                if (needsGrad(1)) gw = Tensor.pooledGradient(dw, w.shape());
                if (db != null) gb = Tensor.pooledGradient(db, g.cout());
            }
            return new Tensor[] {gx, gw, gb};
        }
    }
}
