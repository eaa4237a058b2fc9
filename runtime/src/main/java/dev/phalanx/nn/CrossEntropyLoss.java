package dev.phalanx.nn;

import dev.phalanx.ops.LossOps;
import dev.phalanx.ops.Reduction;
import dev.phalanx.tensor.Tensor;

/** logits [N, C] against int64 class indices [N]; log_softmax then nll_loss. */
public final class CrossEntropyLoss extends Loss {

    public CrossEntropyLoss() {
        this(Reduction.MEAN);
    }

    public CrossEntropyLoss(Reduction reduction) {
        super(reduction);
    }

    @Override
    public Tensor forward(Tensor input, Tensor target) {
        return LossOps.crossEntropy(input, target, reduction);
    }
}
