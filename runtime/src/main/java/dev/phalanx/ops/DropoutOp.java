package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Tensor;

/** Inverted dropout: keep each element with probability 1-p and scale it by 1/(1-p). */
public final class DropoutOp {

    private DropoutOp() { }

    public static Tensor apply(Tensor x, float p, Generator gen) {
        if (p < 0 || p > 1) throw new IllegalArgumentException("dropout probability has to be between 0 and 1, but got " + p);
        DType dtype = Float32Edge.dtype("dropout", x);
        if (dtype != DType.FLOAT32) return Float32Edge.out(apply(Float32Edge.in(x), p, gen), dtype);
        if (!x.device().isCpu()) return DeviceNorm.dropout(x, p, gen); // a counter-based mask: see DeviceNorm
        float[] in = x.contiguousFloats(), out = new float[in.length], mask = new float[in.length];
        float scale = p == 1f ? 0f : 1f / (1f - p);
        for (int i = 0; i < in.length; i++) {
            mask[i] = gen.nextFloat() >= p ? scale : 0f;
            out[i] = in[i] * mask[i];
        }
        return Tensor.result(out, x.shape(), new DropoutBackward(x, mask));
    }

    private static final class DropoutBackward extends Node {
        private final float[] mask;

        DropoutBackward(Tensor x, float[] mask) {
            super(x);
            this.mask = mask;
        }

        @Override
        public String name() {
            return "NativeDropoutBackward0";
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            float[] g = grad.contiguousFloats(), dx = new float[g.length];
            for (int i = 0; i < g.length; i++) dx[i] = g[i] * mask[i];
            return new Tensor[] {Tensor.of(dx, grad.shape())};
        }
    }
}
