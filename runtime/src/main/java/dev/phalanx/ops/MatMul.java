package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/** {@code a @ b} for 2-d tensors: out = a b; da = g b^T; db = a^T g. */
public final class MatMul {

    private MatMul() { }

    public static Tensor apply(Tensor a, Tensor b) {
        Tensor.checkSameDevice("matmul", a, b);
        Checks.float32("matmul", a, b);
        if (a.dim() != 2 || b.dim() != 2) {
            throw new IllegalArgumentException("matmul: both arguments must be 2-D in this build, got shapes " + Shapes.str(a.shape())
                    + " and " + Shapes.str(b.shape()));
        }
        int m = a.size(0), k = a.size(1), n = b.size(1);
        if (b.size(0) != k) {
            throw new IllegalArgumentException("mat1 and mat2 shapes cannot be multiplied (" + Shapes.x(a.shape()) + " and "
                    + Shapes.x(b.shape()) + ")");
        }
        float[] out = new float[m * n];
        Backends.cpu().gemm().sgemm(false, false, m, n, k, a.contiguousFloats(), 0, b.contiguousFloats(), 0, out, 0, false);
        return Tensor.result(out, new int[] {m, n}, new MmBackward(a, b));
    }

    private static final class MmBackward extends Node {
        MmBackward(Tensor a, Tensor b) {
            super(a, b);
        }

        @Override
        public String name() {
            return "MmBackward0";
        }

        @Override
        public Tensor[] backward(Tensor g) {
            Tensor a = inputs()[0], b = inputs()[1];
            int m = a.size(0), k = a.size(1), n = b.size(1);
            Tensor ga = null, gb = null;
            if (needsGrad(0)) {
                float[] d = new float[m * k];
                Backends.cpu().gemm().sgemm(false, true, m, k, n, g.contiguousFloats(), 0, b.contiguousFloats(), 0, d, 0, false);
                ga = Tensor.of(d, m, k);
            }
            if (needsGrad(1)) {
                float[] d = new float[k * n];
                Backends.cpu().gemm().sgemm(true, false, k, n, m, a.contiguousFloats(), 0, g.contiguousFloats(), 0, d, 0, false);
                gb = Tensor.of(d, k, n);
            }
            return new Tensor[] {ga, gb};
        }
    }
}
