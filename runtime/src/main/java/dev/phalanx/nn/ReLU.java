package dev.phalanx.nn;

import dev.phalanx.tensor.Tensor;

/** max(0, x). */
public final class ReLU extends Module {
    @Override
    public Tensor forward(Tensor x) {
        return x.relu();
    }
}
