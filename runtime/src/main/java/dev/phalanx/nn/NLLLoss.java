package dev.phalanx.nn;

import dev.phalanx.ops.LossOps;
import dev.phalanx.ops.Reduction;
import dev.phalanx.tensor.Tensor;

/** log-probabilities [N, C] against int64 class indices [N]. */
public final class NLLLoss extends Loss {

    public NLLLoss() {
        this(Reduction.MEAN);
    }

    public NLLLoss(Reduction reduction) {
        super(reduction);
    }

    @Override
    public Tensor forward(Tensor input, Tensor target) {
        return LossOps.nllLoss(input, target, reduction);
    }
}
