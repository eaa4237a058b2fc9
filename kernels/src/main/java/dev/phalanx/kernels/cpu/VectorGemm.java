package dev.phalanx.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The pure-Java GEMM on the incubating Vector API ({@code jdk.incubator.vector}): a tile of
 * {@value #MR} rows by two vectors of C stays in registers for the whole k loop, B is read one
 * vector at a time and each A value is broadcast, so each load of B serves four rows and C is
 * written once. Only loaded where the JVM resolved the module ({@code --add-modules
 * jdk.incubator.vector}; see {@link JavaKernels}).
 *
 * <p>Each element of C is the sum of {@link JavaGemm}, in its order: {@code c = c0 + a[i,0]*b[0,j]
 * + a[i,1]*b[1,j] + ...}, each product and each sum rounded on its own (a multiply then an add,
 * never a fused one, as Java's own arithmetic), from {@code c0 = +0} or the old C when
 * accumulating. So for finite inputs it gives JavaGemm's bits whatever the vector width, and
 * the fallback's results do not depend on whether the Vector API is there (tested). The one
 * difference: JavaGemm skips zero A values in the rows past its last group of four, and adding
 * {@code 0 * b} is not quite skipping it where b is infinite or NaN, or where the old C held -0.
 * Too-narrow shapes (fewer columns than one vector) go to JavaGemm itself.
 */
final class VectorGemm implements Gemm {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Rows of C per register tile; the rows past the last group of four go two at a time, then one. */
    private static final int MR = 4;
    /** Columns of C per register tile: two vectors. */
    private static final int NR = 2 * L;

    private final JavaGemm reference = new JavaGemm();

    VectorGemm() { }

    @Override
    public String name() {
        return "pure Java (Vector API, " + S.vectorBitSize() + "-bit)";
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k,
                      float[] a, int aOff, float[] b, int bOff,
                      float[] c, int cOff, boolean accumulate) {
        if (m == 0 || n == 0 || k == 0 || n < L || (transB && n < 4)) {
            reference.sgemm(transA, transB, m, n, k, a, aOff, b, bOff, c, cOff, accumulate);
            return;
        }
        int ldb = n;
        if (transB) { // B as k x n rows, padded to whole tiles (the padding columns' results are dropped)
            ldb = (n + NR - 1) / NR * NR;
            float[] bt = new float[k * ldb];
            gatherTranspose(b, bOff, n, k, bt, ldb);
            b = bt;
            bOff = 0;
        }
        int aRow = transA ? 1 : k, aCol = transA ? m : 1;
        int full = n / NR * NR;
        float[] tail = null; // the last partial tile's columns of B, padded with zeros, when B was not padded already
        int tailCols = n - full;
        if (tailCols > 0 && ldb == n) {
            tail = new float[k * NR];
            for (int p = 0; p < k; p++) System.arraycopy(b, bOff + p * n + full, tail, p * NR, tailCols);
        }
        float[] ctile = tailCols > 0 ? new float[MR * NR] : null;
        int i = 0;
        for (; i + MR <= m; i += MR) {
            int ai = aOff + i * aRow;
            for (int j = 0; j < full; j += NR) {
                tile4(k, a, ai, aRow, aCol, b, bOff + j, ldb, c, cOff + i * n + j, n, accumulate);
            }
            if (tailCols > 0) {
                for (int r = 0; r < MR; r++) {
                    int src = cOff + (i + r) * n + full;
                    if (accumulate) System.arraycopy(c, src, ctile, r * NR, tailCols);
                }
                if (tail != null) tile4(k, a, ai, aRow, aCol, tail, 0, NR, ctile, 0, NR, accumulate);
                else tile4(k, a, ai, aRow, aCol, b, bOff + full, ldb, ctile, 0, NR, accumulate);
                for (int r = 0; r < MR; r++) System.arraycopy(ctile, r * NR, c, cOff + (i + r) * n + full, tailCols);
            }
        }
        for (; i < m; i += 2) {
            boolean pair = i + 1 < m;
            int ai = aOff + i * aRow, rows = pair ? 2 : 1;
            for (int j = 0; j < full; j += NR) {
                if (pair) tile2(k, a, ai, aRow, aCol, b, bOff + j, ldb, c, cOff + i * n + j, n, accumulate);
                else row1(k, a, ai, aCol, b, bOff + j, ldb, c, cOff + i * n + j, accumulate);
            }
            if (tailCols > 0) {
                for (int r = 0; r < rows; r++) {
                    if (accumulate) System.arraycopy(c, cOff + (i + r) * n + full, ctile, r * NR, tailCols);
                }
                float[] tb = tail != null ? tail : b;
                int t0 = tail != null ? 0 : bOff + full, tld = tail != null ? NR : ldb;
                if (pair) tile2(k, a, ai, aRow, aCol, tb, t0, tld, ctile, 0, NR, accumulate);
                else row1(k, a, ai, aCol, tb, t0, tld, ctile, 0, accumulate);
                for (int r = 0; r < rows; r++) System.arraycopy(ctile, r * NR, c, cOff + (i + r) * n + full, tailCols);
            }
        }
    }

    /** C[4 x NR] (+)= A[4 rows from ai] x B[k x NR from b0, rows ldb apart]; C rows ldc apart. */
    private static void tile4(int k, float[] a, int ai, int aRow, int aCol, float[] b, int b0, int ldb,
                              float[] c, int c0, int ldc, boolean accumulate) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31;
        if (accumulate) {
            c00 = FloatVector.fromArray(S, c, c0);
            c01 = FloatVector.fromArray(S, c, c0 + L);
            c10 = FloatVector.fromArray(S, c, c0 + ldc);
            c11 = FloatVector.fromArray(S, c, c0 + ldc + L);
            c20 = FloatVector.fromArray(S, c, c0 + 2 * ldc);
            c21 = FloatVector.fromArray(S, c, c0 + 2 * ldc + L);
            c30 = FloatVector.fromArray(S, c, c0 + 3 * ldc);
            c31 = FloatVector.fromArray(S, c, c0 + 3 * ldc + L);
        } else {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = FloatVector.zero(S);
        }
        int a1 = aRow, a2 = 2 * aRow, a3 = 3 * aRow;
        for (int p = 0; p < k; p++) {
            int bp = b0 + p * ldb, ap = ai + p * aCol;
            FloatVector b0v = FloatVector.fromArray(S, b, bp), b1v = FloatVector.fromArray(S, b, bp + L);
            FloatVector v = FloatVector.broadcast(S, a[ap]);
            c00 = c00.add(v.mul(b0v));
            c01 = c01.add(v.mul(b1v));
            v = FloatVector.broadcast(S, a[ap + a1]);
            c10 = c10.add(v.mul(b0v));
            c11 = c11.add(v.mul(b1v));
            v = FloatVector.broadcast(S, a[ap + a2]);
            c20 = c20.add(v.mul(b0v));
            c21 = c21.add(v.mul(b1v));
            v = FloatVector.broadcast(S, a[ap + a3]);
            c30 = c30.add(v.mul(b0v));
            c31 = c31.add(v.mul(b1v));
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + L);
        c10.intoArray(c, c0 + ldc);
        c11.intoArray(c, c0 + ldc + L);
        c20.intoArray(c, c0 + 2 * ldc);
        c21.intoArray(c, c0 + 2 * ldc + L);
        c30.intoArray(c, c0 + 3 * ldc);
        c31.intoArray(c, c0 + 3 * ldc + L);
    }

    /** C[2 x NR] (+)= A[2 rows from ai] x B[k x NR]: the rows past the last group of four, two at a time. */
    private static void tile2(int k, float[] a, int ai, int aRow, int aCol, float[] b, int b0, int ldb,
                              float[] c, int c0, int ldc, boolean accumulate) {
        FloatVector c00, c01, c10, c11;
        if (accumulate) {
            c00 = FloatVector.fromArray(S, c, c0);
            c01 = FloatVector.fromArray(S, c, c0 + L);
            c10 = FloatVector.fromArray(S, c, c0 + ldc);
            c11 = FloatVector.fromArray(S, c, c0 + ldc + L);
        } else {
            c00 = c01 = c10 = c11 = FloatVector.zero(S);
        }
        for (int p = 0; p < k; p++) {
            int bp = b0 + p * ldb, ap = ai + p * aCol;
            FloatVector b0v = FloatVector.fromArray(S, b, bp), b1v = FloatVector.fromArray(S, b, bp + L);
            FloatVector v = FloatVector.broadcast(S, a[ap]);
            c00 = c00.add(v.mul(b0v));
            c01 = c01.add(v.mul(b1v));
            v = FloatVector.broadcast(S, a[ap + aRow]);
            c10 = c10.add(v.mul(b0v));
            c11 = c11.add(v.mul(b1v));
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + L);
        c10.intoArray(c, c0 + ldc);
        c11.intoArray(c, c0 + ldc + L);
    }

    /** One row of C, NR columns: the last row when the rows are odd. */
    private static void row1(int k, float[] a, int ai, int aCol, float[] b, int b0, int ldb,
                             float[] c, int c0, boolean accumulate) {
        FloatVector s0, s1;
        if (accumulate) {
            s0 = FloatVector.fromArray(S, c, c0);
            s1 = FloatVector.fromArray(S, c, c0 + L);
        } else {
            s0 = s1 = FloatVector.zero(S);
        }
        for (int p = 0; p < k; p++) {
            FloatVector v = FloatVector.broadcast(S, a[ai + p * aCol]);
            int bp = b0 + p * ldb;
            s0 = s0.add(v.mul(FloatVector.fromArray(S, b, bp)));
            s1 = s1.add(v.mul(FloatVector.fromArray(S, b, bp + L)));
        }
        s0.intoArray(c, c0);
        s1.intoArray(c, c0 + L);
    }

    /**
     * dst[p * ldd + j] = src[off + j * cols + p] for j < rows, p < cols: the transposed copy,
     * one gathered vector of L source rows at a time. The last group of rows repeats its last
     * row in the lanes past {@code rows}: those columns of dst (at most L - 1, below
     * {@code ldd}) are padding whose results are dropped.
     */
    static void gatherTranspose(float[] src, int off, int rows, int cols, float[] dst, int ldd) {
        int[] index = new int[L];
        for (int j = 0; j < rows; j += L) {
            for (int l = 0; l < L; l++) index[l] = Math.min(l, rows - 1 - j) * cols;
            int base = off + j * cols;
            for (int p = 0; p < cols; p++) FloatVector.fromArray(S, src, base + p, index, 0).intoArray(dst, p * ldd + j);
        }
    }
}
