package dev.phalanx.nn;

import dev.phalanx.ops.DropoutOp;
import dev.phalanx.ops.LinearOp;
import dev.phalanx.ops.LossOps;
import dev.phalanx.ops.PoolOps;
import dev.phalanx.ops.Reduction;
import dev.phalanx.ops.SoftmaxOps;
import dev.phalanx.ops.Conv2dOp;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** The functional interface, PyTorch's {@code torch.nn.functional}. */
public final class F {

    private F() { }

    public static Tensor relu(Tensor x) {
        return x.relu();
    }

    public static Tensor maxPool2d(Tensor x, int kernelSize) {
        return PoolOps.maxPool2dOutput(x, kernelSize, kernelSize, kernelSize, kernelSize, 0, 0);
    }

    public static PoolOps.MaxPoolResult maxPool2dWithIndices(Tensor x, int kh, int kw, int sh, int sw, int ph, int pw) {
        return PoolOps.maxPool2d(x, kh, kw, sh, sw, ph, pw);
    }

    public static Tensor avgPool2d(Tensor x, int kernelSize) {
        return PoolOps.avgPool2d(x, kernelSize, kernelSize, kernelSize, kernelSize, 0, 0);
    }

    public static Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int sh, int sw, int ph, int pw) {
        return Conv2dOp.apply(x, weight, bias, sh, sw, ph, pw);
    }

    public static Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        return LinearOp.apply(x, weight, bias);
    }

    public static Tensor logSoftmax(Tensor x, int dim) {
        return SoftmaxOps.logSoftmax(x, dim);
    }

    public static Tensor softmax(Tensor x, int dim) {
        return SoftmaxOps.softmax(x, dim);
    }

    public static Tensor crossEntropy(Tensor logits, Tensor target) {
        return LossOps.crossEntropy(logits, target, Reduction.MEAN);
    }

    public static Tensor crossEntropy(Tensor logits, Tensor target, Reduction reduction) {
        return LossOps.crossEntropy(logits, target, reduction);
    }

    public static Tensor nllLoss(Tensor logProbs, Tensor target) {
        return LossOps.nllLoss(logProbs, target, Reduction.MEAN);
    }

    public static Tensor mseLoss(Tensor input, Tensor target) {
        return LossOps.mseLoss(input, target, Reduction.MEAN);
    }

    public static Tensor dropout(Tensor x, float p, boolean training, Generator gen) {
        return training && p > 0 ? DropoutOp.apply(x, p, gen) : x;
    }

    public static Tensor flatten(Tensor x, int startDim) {
        return x.flatten(startDim);
    }
}
