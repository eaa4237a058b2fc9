package dev.phalanx.nn;

import dev.phalanx.ops.Conv2dOp;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** 2-d convolution over NCHW input; weight [out, in, kh, kw], PyTorch's default init. */
public final class Conv2d extends Module {

    private final int in, out;
    private final Pair kernel, stride, padding;
    public final Tensor weight;
    public final Tensor bias; // null when bias=false

    public Conv2d(int inChannels, int outChannels, int kernelSize, Generator gen) {
        this(inChannels, outChannels, Pair.of(kernelSize), Pair.of(1), Pair.of(0), true, gen);
    }

    public Conv2d(int inChannels, int outChannels, int kernelSize) {
        this(inChannels, outChannels, kernelSize, Init.freshGenerator());
    }

    public Conv2d(int inChannels, int outChannels, Pair kernelSize, Pair stride, Pair padding, boolean bias, Generator gen) {
        if (inChannels < 1 || outChannels < 1) {
            throw new IllegalArgumentException("Conv2d: channels must be >= 1, got in=" + inChannels + " out=" + outChannels);
        }
        this.in = inChannels;
        this.out = outChannels;
        this.kernel = kernelSize;
        this.stride = stride;
        this.padding = padding;
        int fanIn = inChannels * kernelSize.h() * kernelSize.w();
        this.weight = registerParameter("weight", Init.kaimingUniformA5(gen, fanIn, outChannels, inChannels, kernelSize.h(), kernelSize.w()));
        this.bias = bias ? registerParameter("bias", Init.bias(gen, fanIn, outChannels)) : null;
    }

    @Override
    public Tensor forward(Tensor x) {
        return Conv2dOp.apply(x, weight, bias, stride.h(), stride.w(), padding.h(), padding.w());
    }

    @Override
    protected String extraRepr() {
        String s = in + ", " + out + ", kernel_size=" + kernel.tuple() + ", stride=" + stride.tuple();
        if (padding.h() != 0 || padding.w() != 0) s += ", padding=" + padding.tuple();
        if (bias == null) s += ", bias=False";
        return s;
    }
}
