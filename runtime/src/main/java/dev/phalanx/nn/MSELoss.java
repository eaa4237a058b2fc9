package dev.phalanx.nn;

import dev.phalanx.ops.LossOps;
import dev.phalanx.ops.Reduction;
import dev.phalanx.tensor.Tensor;

/** mean squared error between two tensors of the same shape. */
public final class MSELoss extends Loss {

    public MSELoss() {
        this(Reduction.MEAN);
    }

    public MSELoss(Reduction reduction) {
        super(reduction);
    }

    @Override
    public Tensor forward(Tensor input, Tensor target) {
        return LossOps.mseLoss(input, target, reduction);
    }
}
