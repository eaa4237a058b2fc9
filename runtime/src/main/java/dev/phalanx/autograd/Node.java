package dev.phalanx.autograd;

import java.util.ArrayList;
import java.util.List;

import dev.phalanx.tensor.Storage;
import dev.phalanx.tensor.Tensor;

/**
 * One recorded operation on the tape: what its backward needs, and the backward itself. Its
 * {@link #name()} is PyTorch's ({@code AddmmBackward0}), so that {@code gradFn} prints the same.
 *
 * <p>A node belongs to the graph of the tensors it produced, so two replicas that compute on
 * their own tensors have disjoint tapes without any shared registry.
 *
 * <p>Guard rails, as in PyTorch: a node remembers the version of every tensor it saves (its
 * inputs whose values backward reads, see {@link #savesInput(int)}, and its output where
 * {@link #savesOutput()}), and backward refuses to run if one was modified in place since; after
 * a backward without {@code retainGraph} the node is released, and a second backward through a
 * node that saved tensors raises PyTorch's error.
 */
public abstract class Node {

    private final Tensor[] inputs;
    private final int[] inputVersions;
    private Storage output;
    private int outputVersion;
    private boolean released;

    protected Node(Tensor... inputs) {
        this.inputs = inputs;
        this.inputVersions = new int[inputs.length];
        for (int i = 0; i < inputs.length; i++) if (inputs[i] != null) inputVersions[i] = inputs[i].storage().version();
    }

    /** PyTorch's name for this backward function, e.g. {@code MulBackward0}. */
    public abstract String name();

    /**
     * Gradients with respect to each input, given the gradient of the output; an entry may be
     * null where that input needs none (see {@link #needsGrad(int)}). Runs with grad recording
     * off.
     */
    public abstract Tensor[] backward(Tensor gradOutput);

    /**
     * As {@link #backward}, where the engine hands {@code gradOutput} over: nothing but this call
     * refers to its storage, which it covers whole (a pooled gradient, see {@link #forgetsGradOutput()}).
     * A node may write its result into it and return it instead of filling a new array. Called
     * only on nodes that {@link #forgetsGradOutput() forget} their gradOutput.
     */
    public Tensor[] backwardReusing(Tensor gradOutput) {
        return backward(gradOutput);
    }

    /**
     * Whether {@link #backward} keeps no reference to {@code gradOutput}, nor to its storage,
     * once it returns, other than through the tensors it returns (a view of it, or itself). Then
     * the engine may give a pooled gradient's array back to the backend's pool after the call, or
     * hand it over to {@link #backwardReusing}. False (the default) makes the engine never give
     * that storage back; each op's node says true once its backward is known to keep nothing.
     */
    protected boolean forgetsGradOutput() {
        return false;
    }

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

    /**
     * A node whose backward reads none of its inputs' values, only their shapes or its own
     * output (views, reshapes, sums, conversions, softmax): in-place writes to its inputs stay allowed.
     */
    public abstract static class ReadsNoInputs extends Node {
        protected ReadsNoInputs(Tensor... inputs) {
            super(inputs);
        }

        @Override
        protected final boolean savesInput(int input) {
            return false;
        }
    }

    /** Whether backward reads the values of the output this node produced (exp, tanh, sigmoid, softmax, ...). */
    protected boolean savesOutput() {
        return false;
    }

    public final boolean needsGrad(int input) {
        return inputs[input] != null && inputs[input].requiresGrad();
    }

    /** Called once by {@link Tensor} when the node becomes an output's {@code gradFn}. */
    public final void recordOutput(Tensor out) {
        output = out.storage();
        outputVersion = output.version();
    }

    /**
     * PyTorch's {@code next_functions}: for each input, the node its gradient flows into: the
     * input's {@code gradFn}, an {@link AccumulateGrad} for a leaf that requires grad, or none.
     */
    public final List<Edge> nextFunctions() {
        List<Edge> out = new ArrayList<>(inputs.length);
        int[] order = edgeOrder();
        for (int k = 0; k < inputs.length; k++) {
            Tensor in = inputs[order == null ? k : order[k]];
            if (in == null || !in.requiresGrad()) out.add(new Edge(null, 0));
            else if (in.gradFn() == null) out.add(new Edge(in.gradAccumulator(), 0));
            else out.add(new Edge(in.gradFn(), 0));
        }
        return out;
    }

    /** The order of {@link #nextFunctions()} where PyTorch's differs from this node's inputs (null: the inputs' order). */
    protected int[] edgeOrder() {
        return null;
    }

    /** One entry of {@link #nextFunctions()}: a node (null for none) and which of its outputs. */
    public record Edge(Node function, int inputNr) {
        @Override
        public String toString() {
            return "(" + (function == null ? "None" : function.toString()) + ", " + inputNr + ")";
        }
    }

    /** Refuses a second backward through a released node that saved tensors, and saved tensors modified in place. */
    final void checkUsable() {
        boolean saves = savesOutput();
        for (int i = 0; i < inputs.length && !saves; i++) saves = inputs[i] != null && savesInput(i);
        if (released && saves) {
            throw new IllegalStateException("Trying to backward through the graph a second time (or directly access saved tensors after "
                    + "they have already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
                    + "autograd.grad(). Specify retainGraph=true (backward(gradient, true)) if you need to backward through the graph a "
                    + "second time or if you need to access saved tensors after calling backward.");
        }
        for (int i = 0; i < inputs.length; i++) {
            Tensor in = inputs[i];
            if (in != null && savesInput(i) && in.storage().version() != inputVersions[i]) {
                throw modified(in, in.storage().version(), inputVersions[i]);
            }
        }
        if (savesOutput() && output != null && output.version() != outputVersion) {
            throw new IllegalStateException("one of the variables needed for gradient computation has been modified by an inplace "
                    + "operation: the output of " + name() + " is at version " + output.version() + "; expected version " + outputVersion
                    + " instead");
        }
    }

    private static IllegalStateException modified(Tensor t, int now, int expected) {
        String what = "[torch." + t.dtype().scalarTypeName() + "Tensor " + dev.phalanx.tensor.Shapes.str(t.shape()) + "]";
        String source = t.gradFn() == null ? "" : ", which is output 0 of " + t.gradFn().name() + ",";
        return new IllegalStateException("one of the variables needed for gradient computation has been modified by an inplace operation: "
                + what + source + " is at version " + now + "; expected version " + expected + " instead");
    }

    /** Marks the node's saved values as freed (backward without retainGraph). */
    final void release() {
        if (released) return;
        released = true;
        releaseSaved();
    }

    /**
     * Called once, when a backward without {@code retainGraph} has run this node: a node may give
     * back scratch that only it holds (max pooling's argmax indices) to the backend's buffer pool.
     * Its backward never runs again ({@link #checkUsable} refuses a released node that saves values).
     */
    protected void releaseSaved() {
    }

    @Override
    public String toString() {
        return "<" + name() + ">";
    }
}
