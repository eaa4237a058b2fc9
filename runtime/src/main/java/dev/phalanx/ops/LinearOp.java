package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.cpu.BufferPool;
import dev.phalanx.kernels.cpu.Gemm;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Tensor;

/**
 * {@code y = x W^T + b} (PyTorch's addmm), x [B, in], W [out, in], b [out].
 * Backward: dx = g W, dW = g^T x, db = column sums of g.
 */
public final class LinearOp {

    private LinearOp() { }

    public static Tensor apply(Tensor x, Tensor weight, Tensor bias) {
        Tensor.checkSameDevice("linear", x, weight);
        DType dtype = Float32Edge.dtype("linear", x, weight, bias);
        if (dtype != DType.FLOAT32) return Float32Edge.out(apply(Float32Edge.in(x), Float32Edge.in(weight), Float32Edge.in(bias)), dtype);
        if (x.dim() != 2 || weight.dim() != 2 || weight.size(1) != x.size(1)) {
            int[] wt = weight.dim() == 2 ? new int[] {weight.size(1), weight.size(0)} : weight.shape();
            throw new IllegalArgumentException("mat1 and mat2 shapes cannot be multiplied (" + Shapes.x(x.shape()) + " and " + Shapes.x(wt) + ")");
        }
        int b = x.size(0), in = x.size(1), out = weight.size(0);
        if (bias != null && (bias.dim() != 1 || bias.size(0) != out)) {
            throw new IllegalArgumentException("linear: bias of shape " + Shapes.str(bias.shape()) + " does not match " + out + " output features");
        }
        if (!x.device().isCpu()) return DeviceLayers.linear(x, weight, bias);
        Reproducible.Shard shard = Reproducible.current(); // reproducible mode (#13): samples one by one, sums along the tree
        if (shard != null) return SampleOrdered.linear(shard, x, weight, bias);
        float[] y = new float[b * out];
        if (bias != null) {
            float[] bd = bias.contiguousFloats();
            for (int r = 0; r < b; r++) System.arraycopy(bd, 0, y, r * out, out);
        }
        Backends.cpu().gemm().sgemm(false, true, b, out, in, x.contiguousFloats(), 0, weight.contiguousFloats(), 0, y, 0, bias != null);
        return Tensor.result(y, new int[] {b, out}, new AddmmBackward(x, weight, bias));
    }

    private static final class AddmmBackward extends Node {
        AddmmBackward(Tensor x, Tensor w, Tensor bias) {
            super(x, w, bias);
        }

        @Override
        public String name() {
            return inputs()[2] != null ? "AddmmBackward0" : "MmBackward0";
        }

        /** PyTorch's addmm(bias, x, weight.t()): the bias comes first in next_functions. */
        @Override
        protected int[] edgeOrder() {
            return inputs()[2] != null ? new int[] {2, 0, 1} : new int[] {0, 1, 2};
        }

        @Override
        protected boolean savesInput(int input) {
            return input < 2; // the bias's values are not needed
        }

        @Override
        protected boolean forgetsGradOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor g) {
            Tensor x = inputs()[0], w = inputs()[1];
            int b = x.size(0), in = x.size(1), out = w.size(0);
            Gemm gemm = Backends.cpu().gemm();
            BufferPool pool = Backends.cpu().buffers(); // every element of each array is written below
            float[] gd = g.contiguousFloats();
            Tensor gx = null, gw = null, gb = null;
            if (needsGrad(0)) {
                float[] d = pool.floats(b * in);
                gemm.sgemm(false, false, b, in, out, gd, 0, w.contiguousFloats(), 0, d, 0, false);
                gx = Tensor.pooledGradient(d, b, in);
            }
            if (needsGrad(1)) {
                float[] d = pool.floats(out * in);
                gemm.sgemm(true, false, out, in, b, gd, 0, x.contiguousFloats(), 0, d, 0, false);
                gw = Tensor.pooledGradient(d, out, in);
            }
            if (needsGrad(2)) {
                float[] d = pool.floats(out);
                java.util.Arrays.fill(d, 0f);
                for (int r = 0; r < b; r++)
                    for (int j = 0; j < out; j++) d[j] += gd[r * out + j];
                gb = Tensor.pooledGradient(d, out);
            }
            return new Tensor[] {gx, gw, gb};
        }
    }
}
