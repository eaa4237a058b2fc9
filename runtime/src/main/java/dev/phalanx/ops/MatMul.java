package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.HostStorage;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/**
 * {@code a @ b} for 2-d tensors: out = a b; da = g b^T; db = a^T g. float32 through the
 * backend's GEMM; float64 in double and integers in long (wrapping), as PyTorch computes them;
 * float16 and bfloat16 in float32 (Float32Edge).
 */
public final class MatMul {

    private MatMul() { }

    public static Tensor apply(Tensor a, Tensor b) {
        Tensor.checkSameDevice("matmul", a, b);
        if (a.dim() != 2 || b.dim() != 2) {
            throw new IllegalArgumentException("matmul: both arguments must be 2-D in this build, got shapes " + Shapes.str(a.shape())
                    + " and " + Shapes.str(b.shape()));
        }
        int m = a.size(0), k = a.size(1), n = b.size(1);
        if (b.size(0) != k) {
            throw new IllegalArgumentException("mat1 and mat2 shapes cannot be multiplied (" + Shapes.x(a.shape()) + " and "
                    + Shapes.x(b.shape()) + ")");
        }
        if (a.dtype() != b.dtype()) { // PyTorch's mm does not promote
            throw new IllegalArgumentException("matmul: expected m1 and m2 to have the same dtype, but got: " + a.dtype().torchName() + " != "
                    + b.dtype().torchName() + "; convert one of them with to(DType." + a.dtype().name() + ")");
        }
        if (!a.device().isCpu()) return DeviceLayers.matmul(a, b);
        DType dtype = a.dtype();
        return switch (dtype) {
            case FLOAT32 -> {
                float[] out = new float[m * n];
                Backends.cpu().gemm().sgemm(false, false, m, n, k, a.contiguousFloats(), 0, b.contiguousFloats(), 0, out, 0, false);
                yield Tensor.result(out, new int[] {m, n}, new MmBackward(a, b));
            }
            case FLOAT64 -> Tensor.result(dtype, doubleProduct(a.contiguousDoubles(), b.contiguousDoubles(), m, k, n), new int[] {m, n},
                    new MmBackward(a, b));
            case FLOAT16, BFLOAT16 -> Float32Edge.out(apply(Float32Edge.in(a), Float32Edge.in(b)), dtype);
            case BOOL -> throw new IllegalArgumentException("matmul: not implemented for torch.bool (PyTorch: \"addmm_impl_cpu_\" not "
                    + "implemented for 'Bool'); convert with to(DType.INT64) or to(DType.FLOAT32)");
            default -> integerProduct(a.contiguousLongs(), b.contiguousLongs(), m, k, n, dtype);
        };
    }

    /** float64 in float64, as PyTorch's double GEMM: each element summed over k in order. */
    private static double[] doubleProduct(double[] a, double[] b, int m, int k, int n) {
        double[] out = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int p = 0; p < k; p++) {
                double av = a[i * k + p];
                for (int j = 0; j < n; j++) out[i * n + j] += av * b[p * n + j];
            }
        }
        return out;
    }

    /** Integers in integers: summed in long, then wrapped into the dtype as PyTorch's integer GEMM wraps. */
    private static Tensor integerProduct(long[] a, long[] b, int m, int k, int n, DType dtype) {
        Tensor out = Tensor.zeros(dtype, m, n);
        HostStorage o = (HostStorage) out.storage();
        long[] row = new long[n];
        for (int i = 0; i < m; i++) {
            java.util.Arrays.fill(row, 0L);
            for (int p = 0; p < k; p++) {
                long av = a[i * k + p];
                for (int j = 0; j < n; j++) row[j] += av * b[p * n + j];
            }
            for (int j = 0; j < n; j++) o.setLong(i * n + j, row[j]);
        }
        return out;
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
            if (a.dtype() != DType.FLOAT32) { // float64: the same products, through the views a^T and b^T
                if (needsGrad(0)) ga = apply(g, b.t());
                if (needsGrad(1)) gb = apply(a.t(), g);
                return new Tensor[] {ga, gb};
            }
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
