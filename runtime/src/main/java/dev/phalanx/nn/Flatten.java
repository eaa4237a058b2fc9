package dev.phalanx.nn;

import dev.phalanx.tensor.Tensor;

/** Flattens dimensions start..end (default 1..-1: everything but the batch). */
public final class Flatten extends Module {

    private final int start, end;

    public Flatten() {
        this(1, -1);
    }

    public Flatten(int startDim, int endDim) {
        this.start = startDim;
        this.end = endDim;
    }

    @Override
    public Tensor forward(Tensor x) {
        return x.flatten(start, end);
    }

    @Override
    protected String extraRepr() {
        return "start_dim=" + start + ", end_dim=" + end;
    }
}
