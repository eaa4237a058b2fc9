package dev.phalanx.autograd;

import dev.phalanx.tensor.Tensor;

/**
 * One recorded operation on the tape: what its backward needs, and the backward itself. Its
 * {@link #name()} is PyTorch's ({@code AddmmBackward0}), so that {@code gradFn} prints the same.
 *
 * <p>A node belongs to the graph of the tensors it produced, so two replicas that compute on
 * their own tensors have disjoint tapes without any shared registry.
 */
public abstract class Node {

    private final Tensor[] inputs;

    protected Node(Tensor... inputs) {
        this.inputs = inputs;
    }

    /** PyTorch's name for this backward function, e.g. {@code MulBackward0}. */
    public abstract String name();

    /**
     * Gradients with respect to each input, given the gradient of the output; an entry may be
     * null where that input needs none (see {@link #needsGrad(int)}). Runs with grad recording
     * off.
     */
    public abstract Tensor[] backward(Tensor gradOutput);

    public final Tensor[] inputs() {
        return inputs;
    }

    /**
     * Whether backward reads input {@code input}'s values (not only its shape). Such inputs must
     * not be modified in place before backward runs.
     */
    protected boolean savesInput(int input) {
        return true;
    }

    public final boolean needsGrad(int input) {
        return inputs[input] != null && inputs[input].requiresGrad();
    }

    @Override
    public String toString() {
        return "<" + name() + ">";
    }
}
