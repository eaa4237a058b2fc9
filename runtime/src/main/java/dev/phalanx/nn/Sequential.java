package dev.phalanx.nn;

import dev.phalanx.tensor.Tensor;

/** Modules applied one after another; children are named 0, 1, 2, ... as in PyTorch. */
public final class Sequential extends Module {

    private final Module[] layers;

    public Sequential(Module... layers) {
        this.layers = layers.clone();
        for (int i = 0; i < layers.length; i++) register(Integer.toString(i), layers[i]);
    }

    @Override
    public Tensor forward(Tensor x) {
        for (Module m : layers) x = m.forward(x);
        return x;
    }
}
