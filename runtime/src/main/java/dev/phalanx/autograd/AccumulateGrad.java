package dev.phalanx.autograd;

import dev.phalanx.tensor.Tensor;

/**
 * The node at a leaf that requires grad, as in PyTorch's {@code next_functions}: where the
 * gradient flowing into the leaf is summed into its {@code .grad}. One per leaf.
 */
public final class AccumulateGrad extends Node {

    private final Tensor variable;

    public AccumulateGrad(Tensor variable) {
        this.variable = variable;
    }

    /** The leaf this node accumulates into. */
    public Tensor variable() {
        return variable;
    }

    @Override
    public String name() {
        return "AccumulateGrad";
    }

    @Override
    public Tensor[] backward(Tensor gradOutput) {
        Backward.accumulate(variable, gradOutput);
        return new Tensor[0];
    }
}
