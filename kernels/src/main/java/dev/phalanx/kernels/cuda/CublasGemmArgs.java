package dev.phalanx.kernels.cuda;

/**
 * A row-major GEMM as cuBLAS's column-major {@code sgemm} sees it. A row-major matrix read
 * column-major is its transpose, so row-major {@code C = op(A) op(B)} is column-major
 * {@code C^T = op(B)^T op(A)^T}: pass B first and A second with their own transpose flags, swap m
 * and n, and give each leading dimension as the row length of the matrix as stored. cuBLAS
 * refuses a leading dimension below 1 (CUBLAS_STATUS_INVALID_VALUE) even when a dimension is 0,
 * so each is at least 1.
 */
record CublasGemmArgs(boolean transFirst, boolean transSecond, int m, int n, int k, int ldFirst, int ldSecond, int ldc) {

    static CublasGemmArgs of(boolean transA, boolean transB, int m, int n, int k) {
        int lda = Math.max(1, transA ? m : k), ldb = Math.max(1, transB ? k : n);
        return new CublasGemmArgs(transB, transA, n, m, k, ldb, lda, Math.max(1, n));
    }
}
