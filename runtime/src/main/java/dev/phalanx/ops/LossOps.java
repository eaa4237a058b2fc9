package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.autograd.Reproducible;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/**
 * nll_loss over log-probabilities [N, C] with int64 targets [N], and mse_loss; cross entropy
 * is log_softmax followed by nll_loss, the graph PyTorch builds.
 */
public final class LossOps {

    private LossOps() { }

    public static Tensor nllLoss(Tensor logProbs, Tensor target, Reduction reduction) {
        if (logProbs.dim() != 2) {
            throw new IllegalArgumentException("nll_loss: expected input of shape [N, C], got " + Shapes.str(logProbs.shape()));
        }
        if (target.dtype() != DType.INT64) {
            throw new IllegalArgumentException("nll_loss: expected target of dtype torch.int64 (class indices), got " + target.dtype().torchName());
        }
        DType dtype = Float32Edge.dtype("nll_loss", logProbs);
        if (dtype != DType.FLOAT32) return Float32Edge.out(nllLoss(Float32Edge.in(logProbs), target, reduction), dtype);
        int n = logProbs.size(0), c = logProbs.size(1);
        if (target.dim() != 1 || target.size(0) != n) {
            throw new IllegalArgumentException("nll_loss: Expected input batch_size (" + n + ") to match target batch_size ("
                    + (target.dim() == 0 ? 1 : target.size(0)) + "); input " + Shapes.str(logProbs.shape()) + ", target "
                    + Shapes.str(target.shape()));
        }
        if (!logProbs.device().isCpu()) return DeviceLayers.nllLoss(logProbs, target, reduction);
        long[] t = target.contiguousLongs();
        for (int i = 0; i < n; i++) {
            if (t[i] < 0 || t[i] >= c) {
                throw new IndexOutOfBoundsException("nll_loss: Target " + t[i] + " is out of bounds (row " + i + ", " + c + " classes)");
            }
        }
        Reproducible.Shard shard = Reproducible.current(); // reproducible mode (#13): 1/B of the global batch, per sample
        if (shard != null && reduction == Reduction.MEAN) return SampleOrdered.nllLossMean(shard, logProbs, t, c);
        float[] lp = logProbs.contiguousFloats();
        if (reduction == Reduction.NONE) {
            float[] out = new float[n];
            for (int i = 0; i < n; i++) out[i] = -lp[i * c + (int) t[i]];
            return Tensor.result(out, new int[] {n}, new NllLossBackward(logProbs, t, c, reduction));
        }
        double s = 0;
        for (int i = 0; i < n; i++) s -= lp[i * c + (int) t[i]];
        if (reduction == Reduction.MEAN) s /= n;
        return Tensor.result(new float[] {(float) s}, new int[0], new NllLossBackward(logProbs, t, c, reduction));
    }

    public static Tensor crossEntropy(Tensor logits, Tensor target, Reduction reduction) {
        if (!logits.device().isCpu()) return DeviceLayers.crossEntropy(logits, target, reduction);
        return nllLoss(SoftmaxOps.logSoftmax(logits, 1), target, reduction);
    }

    public static Tensor mseLoss(Tensor input, Tensor target, Reduction reduction) {
        Tensor.checkSameDevice("mse_loss", input, target);
        if (!java.util.Arrays.equals(input.shape(), target.shape())) {
            throw new IllegalArgumentException("mse_loss: input and target shapes must match, got " + Shapes.str(input.shape()) + " and "
                    + Shapes.str(target.shape()));
        }
        if (!input.device().isCpu()) return DeviceLayers.mseLoss(input, target, reduction);
        DType dtype = Float32Edge.dtype("mse_loss", input, target);
        if (dtype != DType.FLOAT32) return Float32Edge.out(mseLoss(Float32Edge.in(input), Float32Edge.in(target), reduction), dtype);
        Reproducible.Shard shard = Reproducible.current(); // reproducible mode (#13): 1/B of the global batch, per sample
        if (shard != null && reduction == Reduction.MEAN) return SampleOrdered.mseLossMean(shard, input, target);
        float[] a = input.contiguousFloats(), b = target.contiguousFloats();
        if (reduction == Reduction.NONE) {
            float[] out = new float[a.length];
            for (int i = 0; i < a.length; i++) out[i] = (a[i] - b[i]) * (a[i] - b[i]);
            return Tensor.result(out, input.shape(), new MseLossBackward(input, target, reduction));
        }
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) (a[i] - b[i]) * (a[i] - b[i]);
        if (reduction == Reduction.MEAN) s /= a.length;
        return Tensor.result(new float[] {(float) s}, new int[0], new MseLossBackward(input, target, reduction));
    }

    private static final class NllLossBackward extends Node {
        private final long[] target;
        private final int classes;
        private final Reduction reduction;

        NllLossBackward(Tensor logProbs, long[] target, int classes, Reduction reduction) {
            super(logProbs);
            this.target = target;
            this.classes = classes;
            this.reduction = reduction;
        }

        @Override
        public String name() {
            return "NllLossBackward0";
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            int n = target.length;
            float[] g = grad.contiguousFloats(), dx = new float[n * classes];
            for (int i = 0; i < n; i++) {
                float gi = reduction == Reduction.NONE ? g[i] : reduction == Reduction.MEAN ? g[0] / n : g[0];
                dx[i * classes + (int) target[i]] = -gi;
            }
            return new Tensor[] {Tensor.of(dx, n, classes)};
        }
    }

    private static final class MseLossBackward extends Node {
        private final Reduction reduction;

        MseLossBackward(Tensor input, Tensor target, Reduction reduction) {
            super(input, target);
            this.reduction = reduction;
        }

        @Override
        public String name() {
            return "MseLossBackward0";
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            float[] a = inputs()[0].contiguousFloats(), b = inputs()[1].contiguousFloats(), g = grad.contiguousFloats();
            float[] da = new float[a.length];
            float scale = reduction == Reduction.MEAN ? 2f / a.length : 2f;
            for (int i = 0; i < a.length; i++) {
                float gi = reduction == Reduction.NONE ? g[i] * 2f : g[0] * scale;
                da[i] = gi * (a[i] - b[i]);
            }
            Tensor gradInput = Tensor.of(da, inputs()[0].shape());
            Tensor gradTarget = null;
            if (needsGrad(1)) {
                float[] db = new float[a.length];
                for (int i = 0; i < a.length; i++) db[i] = -da[i];
                gradTarget = Tensor.of(db, inputs()[1].shape());
            }
            return new Tensor[] {gradInput, gradTarget};
        }
    }
}
