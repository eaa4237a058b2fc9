package dev.phalanx.nn;

import dev.phalanx.ops.PoolOps;
import dev.phalanx.tensor.Tensor;

/** Average pooling (count_include_pad=True); stride defaults to the kernel size. */
public final class AvgPool2d extends Module {

    private final Pair kernel, stride, padding;

    public AvgPool2d(int kernelSize) {
        this(Pair.of(kernelSize), Pair.of(kernelSize), Pair.of(0));
    }

    public AvgPool2d(Pair kernelSize, Pair stride, Pair padding) {
        this.kernel = kernelSize;
        this.stride = stride;
        this.padding = padding;
    }

    @Override
    public Tensor forward(Tensor x) {
        return PoolOps.avgPool2d(x, kernel.h(), kernel.w(), stride.h(), stride.w(), padding.h(), padding.w());
    }

    @Override
    protected String extraRepr() {
        return "kernel_size=" + kernel + ", stride=" + stride + ", padding=" + padding;
    }
}
