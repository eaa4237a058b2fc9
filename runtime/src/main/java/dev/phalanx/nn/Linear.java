package dev.phalanx.nn;

import dev.phalanx.ops.LinearOp;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** y = x W^T + b; weight [out, in], PyTorch's default init. */
public final class Linear extends Module {

    private final int in, out;
    public final Tensor weight;
    public final Tensor bias;

    public Linear(int inFeatures, int outFeatures, boolean bias, Generator gen) {
        if (inFeatures < 1 || outFeatures < 1) {
            throw new IllegalArgumentException("Linear: features must be >= 1, got in=" + inFeatures + " out=" + outFeatures);
        }
        this.in = inFeatures;
        this.out = outFeatures;
        this.weight = registerParameter("weight", Init.kaimingUniformA5(gen, inFeatures, outFeatures, inFeatures));
        this.bias = bias ? registerParameter("bias", Init.bias(gen, inFeatures, outFeatures)) : null;
    }

    public Linear(int inFeatures, int outFeatures, Generator gen) {
        this(inFeatures, outFeatures, true, gen);
    }

    public Linear(int inFeatures, int outFeatures) {
        this(inFeatures, outFeatures, true, Init.freshGenerator());
    }

    @Override
    public Tensor forward(Tensor x) {
        return LinearOp.apply(x, weight, bias);
    }

    @Override
    protected String extraRepr() {
        return "in_features=" + in + ", out_features=" + out + ", bias=" + (bias != null ? "True" : "False");
    }
}
