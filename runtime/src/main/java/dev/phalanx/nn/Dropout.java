package dev.phalanx.nn;

import dev.phalanx.ops.DropoutOp;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** Zeroes elements with probability p in training, identity in evaluation. */
public final class Dropout extends Module {

    private final float p;
    private final Generator gen;

    public Dropout(float p, Generator gen) {
        if (p < 0 || p > 1) throw new IllegalArgumentException("dropout probability has to be between 0 and 1, but got " + p);
        this.p = p;
        this.gen = gen;
    }

    public Dropout(float p) {
        this(p, Init.freshGenerator());
    }

    @Override
    public Tensor forward(Tensor x) {
        return isTraining() && p > 0 ? DropoutOp.apply(x, p, gen) : x;
    }

    @Override
    protected String extraRepr() {
        return "p=" + p + ", inplace=False";
    }
}
