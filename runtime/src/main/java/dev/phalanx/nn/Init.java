package dev.phalanx.nn;

import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** PyTorch's default initialisation of Conv and Linear layers. */
public final class Init {

    private Init() { }

    /**
     * kaiming_uniform_(w, a=sqrt(5)): gain sqrt(2/(1+a^2)) = sqrt(1/3), bound
     * gain*sqrt(3/fan_in) = 1/sqrt(fan_in).
     */
    public static Tensor kaimingUniformA5(Generator gen, int fanIn, int... shape) {
        return uniform(gen, (float) (1 / Math.sqrt(fanIn)), shape);
    }

    /** U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's bias initialisation. */
    public static Tensor bias(Generator gen, int fanIn, int n) {
        return uniform(gen, fanIn > 0 ? (float) (1 / Math.sqrt(fanIn)) : 0f, n);
    }

    public static Tensor uniform(Generator gen, float bound, int... shape) {
        Tensor t = Tensor.rand(gen, shape);
        float[] d = t.data();
        for (int i = 0; i < d.length; i++) d[i] = (2 * d[i] - 1) * bound;
        return t;
    }

    /** The generator layers built without one draw from: this thread's default ({@code Phalanx.manualSeed} seeds it). */
    static Generator freshGenerator() {
        return Generator.defaultGenerator();
    }
}
