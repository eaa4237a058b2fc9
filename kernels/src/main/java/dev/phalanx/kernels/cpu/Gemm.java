package dev.phalanx.kernels.cpu;

/**
 * Single-precision matrix multiply on row-major arrays:
 * {@code C[m x n] = op(A)[m x k] * op(B)[k x n] (+ C when accumulate)}, where op(A) is A or its
 * transpose as stored. Leading dimensions are those of the stored, contiguous matrices:
 * A is stored m x k (k x m when transA), B is stored k x n (n x k when transB).
 *
 * <p>Implementations hold no mutable state shared between threads: replicas call them
 * concurrently.
 */
public interface Gemm {

    void sgemm(boolean transA, boolean transB, int m, int n, int k,
               float[] a, int aOff, float[] b, int bOff,
               float[] c, int cOff, boolean accumulate);

    /** A short name for start-up reports, e.g. {@code OpenBLAS 0.3.30 (JavaCPP)}. */
    String name();
}
