package dev.phalanx.nn;

import dev.phalanx.ops.BatchNormOp;
import dev.phalanx.tensor.Tensor;

/** Batch normalisation over the channels of NCHW input, with running statistics. */
public final class BatchNorm2d extends Module {

    private final int features;
    private final float eps, momentum;
    public final Tensor weight, bias, runningMean, runningVar, numBatchesTracked;

    public BatchNorm2d(int numFeatures) {
        this(numFeatures, 1e-5f, 0.1f);
    }

    public BatchNorm2d(int numFeatures, float eps, float momentum) {
        this.features = numFeatures;
        this.eps = eps;
        this.momentum = momentum;
        weight = registerParameter("weight", Tensor.ones(numFeatures));
        bias = registerParameter("bias", Tensor.zeros(numFeatures));
        runningMean = registerBuffer("running_mean", Tensor.zeros(numFeatures));
        runningVar = registerBuffer("running_var", Tensor.ones(numFeatures));
        numBatchesTracked = registerBuffer("num_batches_tracked", Tensor.ofLongs(new long[1]));
    }

    @Override
    public Tensor forward(Tensor x) {
        if (x.dim() != 4) throw new IllegalArgumentException("BatchNorm2d: expected 4D input (got " + x.dim() + "D input)");
        if (x.size(1) != features) {
            throw new IllegalArgumentException("BatchNorm2d: running_mean should contain " + x.size(1) + " elements not " + features);
        }
        if (isTraining()) {
            try (var ignored = dev.phalanx.autograd.GradMode.noGrad()) {
                numBatchesTracked.add_(1L); // on the module's device: no read-back
            }
        }
        return BatchNormOp.apply(x, runningMean, runningVar, weight, bias, isTraining(), momentum, eps);
    }

    @Override
    protected String extraRepr() {
        return features + ", eps=" + formatEps() + ", momentum=" + momentum + ", affine=True, track_running_stats=True";
    }

    private String formatEps() {
        return eps == 1e-5f ? "1e-05" : Float.toString(eps);
    }
}
