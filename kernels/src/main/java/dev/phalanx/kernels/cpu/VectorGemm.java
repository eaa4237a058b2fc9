package dev.phalanx.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The pure-Java GEMM on the incubating Vector API ({@code jdk.incubator.vector}): a tile of
 * four rows (six where the rows then go in fours: LeNet's conv1 has six output channels, and
 * B is then read once instead of twice) by two vectors of C stays in registers for the whole k
 * loop, B is read one vector at a time and each A value is broadcast, so each load of B serves
 * every row of the tile and C is written once. The columns past the last whole tile go in one
 * tile of one or two vectors that reads B in place (the lanes past n are dropped) into a small
 * copy of C; only B's last rows, where a vector would run past the array, are copied first.
 * Only loaded where the JVM resolved the module ({@code --add-modules jdk.incubator.vector};
 * see {@link JavaKernels}).
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
    /** Rows of C in the tallest register tile (six: see {@link #rowGroup}). */
    private static final int MAX_ROWS = 6;
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
        int tailCols = n - full, tailVecs = tailCols == 0 ? 0 : tailCols <= L ? 1 : 2, tailWidth = tailVecs * L;
        // The last partial tile reads whole vectors of B in place: the lanes past column n hold the
        // next row's values (or padding), and their results stay in ctile. Only B's last rows, where
        // such a vector would run past the array, are copied, padded with zeros, and finished from there.
        int kInPlace = k;
        float[] tail = null;
        if (tailCols > 0) {
            int spare = b.length - (bOff + full + tailWidth); // row p's vectors fit while p * ldb <= spare
            kInPlace = spare < 0 ? 0 : (int) Math.min(k, (long) spare / ldb + 1);
            if (kInPlace < k) {
                tail = new float[(k - kInPlace) * tailWidth];
                for (int p = kInPlace; p < k; p++) System.arraycopy(b, bOff + p * ldb + full, tail, (p - kInPlace) * tailWidth, tailCols);
            }
        }
        float[] ctile = tailCols > 0 ? new float[MAX_ROWS * NR] : null;
        for (int i = 0; i < m; ) {
            int rows = rowGroup(m - i);
            int ai = aOff + i * aRow;
            for (int j = 0; j < full; j += NR) {
                tile(rows, 2, k, a, ai, aRow, aCol, b, bOff + j, ldb, c, cOff + i * n + j, n, accumulate);
            }
            if (tailCols > 0) {
                if (accumulate) {
                    for (int r = 0; r < rows; r++) System.arraycopy(c, cOff + (i + r) * n + full, ctile, r * NR, tailCols);
                }
                if (kInPlace > 0) tile(rows, tailVecs, kInPlace, a, ai, aRow, aCol, b, bOff + full, ldb, ctile, 0, NR, accumulate);
                if (tail != null) {
                    tile(rows, tailVecs, k - kInPlace, a, ai + kInPlace * aCol, aRow, aCol, tail, 0, tailWidth, ctile, 0, NR,
                            accumulate || kInPlace > 0); // C stored and reloaded exactly: the same sums in the same order
                }
                for (int r = 0; r < rows; r++) System.arraycopy(ctile, r * NR, c, cOff + (i + r) * n + full, tailCols);
            }
            i += rows;
        }
    }

    /** Rows of C in the next register tile, {@code left} rows remaining: 6 where the rest then goes in fours (m = 6, 10, 150...), else 4, 2, 1. */
    private static int rowGroup(int left) {
        if (left >= 6 && left % 4 == 2) return 6;
        return left >= 4 ? 4 : left >= 2 ? 2 : 1;
    }

    /** C[rows x vecs*L] (+)= A[rows from ai] x B[k x vecs*L]: the register tile for that shape. */
    private static void tile(int rows, int vecs, int k, float[] a, int ai, int aRow, int aCol, float[] b, int b0, int ldb,
                             float[] c, int c0, int ldc, boolean accumulate) {
        if (vecs == 2) {
            switch (rows) {
                case 6 -> tile6(k, a, ai, aRow, aCol, b, b0, ldb, c, c0, ldc, accumulate);
                case 4 -> tile4(k, a, ai, aRow, aCol, b, b0, ldb, c, c0, ldc, accumulate);
                case 2 -> tile2(k, a, ai, aRow, aCol, b, b0, ldb, c, c0, ldc, accumulate);
                default -> row1(k, a, ai, aCol, b, b0, ldb, c, c0, accumulate);
            }
        } else {
            switch (rows) {
                case 6 -> {
                    tile4x1(k, a, ai, aRow, aCol, b, b0, ldb, c, c0, ldc, accumulate);
                    tile2x1(k, a, ai + 4 * aRow, aRow, aCol, b, b0, ldb, c, c0 + 4 * ldc, ldc, accumulate);
                }
                case 4 -> tile4x1(k, a, ai, aRow, aCol, b, b0, ldb, c, c0, ldc, accumulate);
                case 2 -> tile2x1(k, a, ai, aRow, aCol, b, b0, ldb, c, c0, ldc, accumulate);
                default -> row1x1(k, a, ai, aCol, b, b0, ldb, c, c0, accumulate);
            }
        }
    }

    /** C[6 x NR] (+)= A[6 rows from ai] x B[k x NR]: LeNet's conv1 (6 output channels) in one pass over B. */
    private static void tile6(int k, float[] a, int ai, int aRow, int aCol, float[] b, int b0, int ldb,
                              float[] c, int c0, int ldc, boolean accumulate) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        if (accumulate) {
            c00 = FloatVector.fromArray(S, c, c0);
            c01 = FloatVector.fromArray(S, c, c0 + L);
            c10 = FloatVector.fromArray(S, c, c0 + ldc);
            c11 = FloatVector.fromArray(S, c, c0 + ldc + L);
            c20 = FloatVector.fromArray(S, c, c0 + 2 * ldc);
            c21 = FloatVector.fromArray(S, c, c0 + 2 * ldc + L);
            c30 = FloatVector.fromArray(S, c, c0 + 3 * ldc);
            c31 = FloatVector.fromArray(S, c, c0 + 3 * ldc + L);
            c40 = FloatVector.fromArray(S, c, c0 + 4 * ldc);
            c41 = FloatVector.fromArray(S, c, c0 + 4 * ldc + L);
            c50 = FloatVector.fromArray(S, c, c0 + 5 * ldc);
            c51 = FloatVector.fromArray(S, c, c0 + 5 * ldc + L);
        } else {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = FloatVector.zero(S);
        }
        int a1 = aRow, a2 = 2 * aRow, a3 = 3 * aRow, a4 = 4 * aRow, a5 = 5 * aRow;
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
            v = FloatVector.broadcast(S, a[ap + a4]);
            c40 = c40.add(v.mul(b0v));
            c41 = c41.add(v.mul(b1v));
            v = FloatVector.broadcast(S, a[ap + a5]);
            c50 = c50.add(v.mul(b0v));
            c51 = c51.add(v.mul(b1v));
        }
        c00.intoArray(c, c0);
        c01.intoArray(c, c0 + L);
        c10.intoArray(c, c0 + ldc);
        c11.intoArray(c, c0 + ldc + L);
        c20.intoArray(c, c0 + 2 * ldc);
        c21.intoArray(c, c0 + 2 * ldc + L);
        c30.intoArray(c, c0 + 3 * ldc);
        c31.intoArray(c, c0 + 3 * ldc + L);
        c40.intoArray(c, c0 + 4 * ldc);
        c41.intoArray(c, c0 + 4 * ldc + L);
        c50.intoArray(c, c0 + 5 * ldc);
        c51.intoArray(c, c0 + 5 * ldc + L);
    }

    /** C[4 x L] (+)= A[4 rows] x B[k x L]: a last partial tile of at most one vector. */
    private static void tile4x1(int k, float[] a, int ai, int aRow, int aCol, float[] b, int b0, int ldb,
                                float[] c, int c0, int ldc, boolean accumulate) {
        FloatVector c0v, c1v, c2v, c3v;
        if (accumulate) {
            c0v = FloatVector.fromArray(S, c, c0);
            c1v = FloatVector.fromArray(S, c, c0 + ldc);
            c2v = FloatVector.fromArray(S, c, c0 + 2 * ldc);
            c3v = FloatVector.fromArray(S, c, c0 + 3 * ldc);
        } else {
            c0v = c1v = c2v = c3v = FloatVector.zero(S);
        }
        int a1 = aRow, a2 = 2 * aRow, a3 = 3 * aRow;
        for (int p = 0; p < k; p++) {
            int ap = ai + p * aCol;
            FloatVector bv = FloatVector.fromArray(S, b, b0 + p * ldb);
            c0v = c0v.add(FloatVector.broadcast(S, a[ap]).mul(bv));
            c1v = c1v.add(FloatVector.broadcast(S, a[ap + a1]).mul(bv));
            c2v = c2v.add(FloatVector.broadcast(S, a[ap + a2]).mul(bv));
            c3v = c3v.add(FloatVector.broadcast(S, a[ap + a3]).mul(bv));
        }
        c0v.intoArray(c, c0);
        c1v.intoArray(c, c0 + ldc);
        c2v.intoArray(c, c0 + 2 * ldc);
        c3v.intoArray(c, c0 + 3 * ldc);
    }

    /** C[2 x L] (+)= A[2 rows] x B[k x L]. */
    private static void tile2x1(int k, float[] a, int ai, int aRow, int aCol, float[] b, int b0, int ldb,
                                float[] c, int c0, int ldc, boolean accumulate) {
        FloatVector c0v, c1v;
        if (accumulate) {
            c0v = FloatVector.fromArray(S, c, c0);
            c1v = FloatVector.fromArray(S, c, c0 + ldc);
        } else {
            c0v = c1v = FloatVector.zero(S);
        }
        for (int p = 0; p < k; p++) {
            int ap = ai + p * aCol;
            FloatVector bv = FloatVector.fromArray(S, b, b0 + p * ldb);
            c0v = c0v.add(FloatVector.broadcast(S, a[ap]).mul(bv));
            c1v = c1v.add(FloatVector.broadcast(S, a[ap + aRow]).mul(bv));
        }
        c0v.intoArray(c, c0);
        c1v.intoArray(c, c0 + ldc);
    }

    /** C[1 x L] (+)= A[1 row] x B[k x L]. */
    private static void row1x1(int k, float[] a, int ai, int aCol, float[] b, int b0, int ldb,
                               float[] c, int c0, boolean accumulate) {
        FloatVector s0 = accumulate ? FloatVector.fromArray(S, c, c0) : FloatVector.zero(S);
        for (int p = 0; p < k; p++) {
            s0 = s0.add(FloatVector.broadcast(S, a[ai + p * aCol]).mul(FloatVector.fromArray(S, b, b0 + p * ldb)));
        }
        s0.intoArray(c, c0);
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
