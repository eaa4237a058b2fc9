package dev.phalanx;

import dev.phalanx.tensor.Generator;

/** Process-level conveniences PyTorch keeps in the {@code torch} namespace. */
public final class Phalanx {

    private Phalanx() { }

    /**
     * {@code torch.manual_seed(seed)}: seeds the calling thread's default generator, which layers
     * built without a {@link Generator} and {@code Tensor.rand/randn/randint} without one draw
     * from, so a program's numbers repeat run to run. Other threads keep their own default
     * (replicas stay independent); explicit Generators are unaffected.
     */
    public static Generator manualSeed(long seed) {
        return Generator.manualSeedDefault(seed);
    }
}
