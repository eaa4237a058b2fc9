package dev.phalanx.kernels.cpu;

/**
 * Pure-Java GEMM: the fallback when no native BLAS loads (another platform, or the GPU machine
 * where the native jars are not carried). The inner loop runs along contiguous rows of B and C
 * ({@code c[j] += a * b[j]}) so that HotSpot's superword pass turns it into SIMD; four rows of C
 * are updated per pass over a row of B to reuse each load of B four times.
 */
public final class JavaGemm implements Gemm {

    /** Below this many columns a transposed B is read in place rather than copied first. */
    private static final int TRANSPOSE_B_MIN_COLS = 4;

    @Override
    public String name() {
        return "pure Java";
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k,
                      float[] a, int aOff, float[] b, int bOff,
                      float[] c, int cOff, boolean accumulate) {
        if (!accumulate) java.util.Arrays.fill(c, cOff, cOff + m * n, 0f);
        if (m == 0 || n == 0 || k == 0) return;
        if (transB) {
            if (n < TRANSPOSE_B_MIN_COLS) {
                dotProducts(transA, m, n, k, a, aOff, b, bOff, c, cOff);
                return;
            }
            float[] bt = new float[k * n];
            for (int j = 0; j < n; j++) {
                int row = bOff + j * k;
                for (int p = 0; p < k; p++) bt[p * n + j] = b[row + p];
            }
            b = bt;
            bOff = 0;
        }
        // op(A)[i, p] sits at aOff + i*k + p (plain) or aOff + p*m + i (transposed)
        int aRowStride = transA ? 1 : k;
        int aColStride = transA ? m : 1;
        int i = 0;
        for (; i + 4 <= m; i += 4) {
            int c0 = cOff + i * n, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
            int ai = aOff + i * aRowStride;
            for (int p = 0; p < k; p++) {
                int ap = ai + p * aColStride;
                float a0 = a[ap], a1 = a[ap + aRowStride], a2 = a[ap + 2 * aRowStride], a3 = a[ap + 3 * aRowStride];
                int bp = bOff + p * n;
                for (int j = 0; j < n; j++) {
                    float bv = b[bp + j];
                    c[c0 + j] += a0 * bv;
                    c[c1 + j] += a1 * bv;
                    c[c2 + j] += a2 * bv;
                    c[c3 + j] += a3 * bv;
                }
            }
        }
        for (; i < m; i++) {
            int ci = cOff + i * n;
            int ai = aOff + i * aRowStride;
            for (int p = 0; p < k; p++) {
                float av = a[ai + p * aColStride];
                if (av == 0f) continue;
                int bp = bOff + p * n;
                for (int j = 0; j < n; j++) c[ci + j] += av * b[bp + j];
            }
        }
    }

    private static void dotProducts(boolean transA, int m, int n, int k, float[] a, int aOff,
                                    float[] b, int bOff, float[] c, int cOff) {
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                float s = 0f;
                int bj = bOff + j * k;
                for (int p = 0; p < k; p++) {
                    float av = transA ? a[aOff + p * m + i] : a[aOff + i * k + p];
                    s += av * b[bj + p];
                }
                c[cOff + i * n + j] += s;
            }
        }
    }
}
