package dev.phalanx.nn;

import dev.phalanx.ops.Reduction;
import dev.phalanx.tensor.Tensor;

/** A criterion: {@code loss = criterion.forward(output, target)}. */
public abstract class Loss extends Module {

    protected final Reduction reduction;

    protected Loss(Reduction reduction) {
        this.reduction = reduction;
    }

    public abstract Tensor forward(Tensor input, Tensor target);

    @Override
    public final Tensor forward(Tensor input) {
        throw new UnsupportedOperationException(typeName() + " takes two arguments: forward(input, target)");
    }
}
