package dev.phalanx.nn;

import dev.phalanx.ops.PoolOps;
import dev.phalanx.tensor.Tensor;

/** Average pooling to a fixed output size, whatever the input size. */
public final class AdaptiveAvgPool2d extends Module {

    private final Pair size;

    public AdaptiveAvgPool2d(int outputSize) {
        this(Pair.of(outputSize));
    }

    public AdaptiveAvgPool2d(Pair outputSize) {
        this.size = outputSize;
    }

    @Override
    public Tensor forward(Tensor x) {
        return PoolOps.adaptiveAvgPool2d(x, size.h(), size.w());
    }

    @Override
    protected String extraRepr() {
        return "output_size=" + size;
    }
}
