package dev.phalanx.nn;

import dev.phalanx.ops.PoolOps;
import dev.phalanx.tensor.Tensor;

/** Max pooling; stride defaults to the kernel size, as in PyTorch. */
public final class MaxPool2d extends Module {

    private final Pair kernel, stride, padding;

    public MaxPool2d(int kernelSize) {
        this(Pair.of(kernelSize), Pair.of(kernelSize), Pair.of(0));
    }

    public MaxPool2d(int kernelSize, int stride) {
        this(Pair.of(kernelSize), Pair.of(stride), Pair.of(0));
    }

    public MaxPool2d(Pair kernelSize, Pair stride, Pair padding) {
        this.kernel = kernelSize;
        this.stride = stride;
        this.padding = padding;
    }

    @Override
    public Tensor forward(Tensor x) {
        return PoolOps.maxPool2dOutput(x, kernel.h(), kernel.w(), stride.h(), stride.w(), padding.h(), padding.w());
    }

    @Override
    protected String extraRepr() {
        return "kernel_size=" + kernel + ", stride=" + stride + ", padding=" + padding + ", dilation=1, ceil_mode=False";
    }
}
