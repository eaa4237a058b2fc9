package dev.phalanx.kernels.cpu;

import java.util.Map;
import java.util.WeakHashMap;

/**
 * The reproducible mode's copies of a linear layer's weight W ([out, in], row-major) in the
 * layouts its row GEMM reads (issue #13): W^T's rows for the forward and W's rows for
 * backward-data, each row an array of its own (JDK 17 vectorizes the row GEMM only over arrays
 * indexed alike: {@link SampleOrderedKernels#rowTimes}). One backend keeps them per weight
 * array, so a step makes no new arrays for them: a copy whose weight version is still the one it
 * was made from is used as it is (evaluation, or forward and backward of one step), and an
 * outdated one is refilled in place (after an optimizer step). Made fresh every step, the arrays
 * cost about as much as the transpose itself (fc1 of LeNet, 48,000 weights: about 30 of 55 us).
 *
 * <p>The key is the weight's array, by identity and held weakly (a weight that is gone takes its
 * copies with it), and the version of its storage, which every in-place write of a tensor bumps
 * (the ops pass it; see {@code Storage.version}). A caller that has no stable array or version
 * (a converted or non-contiguous weight, made anew for the call) passes {@link #NO_VERSION}
 * and gets fresh copies, kept nowhere. Thread safety: an entry is taken out of the map for the
 * length of one call and put back after it ({@link #take}, {@link #give}), so two threads using
 * one weight at once each work on copies of their own (the second one's are fresh).
 */
final class WeightLayouts {

    /** The version of a weight whose copies must not be kept: its array is a copy made for this call. */
    static final int NO_VERSION = -1;

    private final Map<float[], Copies> byWeight = new WeakHashMap<>(); // identity keys: arrays do not override equals

    /** The copies kept for {@code w} of shape [rows, cols], or new empty ones; give them back with {@link #give}. */
    Copies take(float[] w, int rows, int cols, int version) {
        Copies c = null;
        if (version != NO_VERSION) {
            synchronized (this) {
                c = byWeight.remove(w);
            }
        }
        return c != null && c.rows == rows && c.cols == cols ? c : new Copies(rows, cols);
    }

    /** Keeps {@code copies} for {@code w} (made at {@code version}) for the next call. */
    void give(float[] w, int version, Copies copies) {
        if (version == NO_VERSION) return;
        synchronized (this) {
            byWeight.put(w, copies);
        }
    }

    /** How many weights have copies kept (for tests). */
    synchronized int size() {
        return byWeight.size();
    }

    /** One weight's copies, each made at the weight version it records. Used by one thread at a time. */
    static final class Copies {
        private final int rows, cols;
        private float[][] transposed;                      // [cols][rows]: W^T's rows
        private int transposedVersion = NO_VERSION;
        private float[][] rowArrays;                       // [rows][cols]: W's rows
        private int rowsVersion = NO_VERSION;

        private Copies(int rows, int cols) {
            this.rows = rows;
            this.cols = cols;
        }

        /** W^T's rows at {@code version}: kept ones where they were made from it, else (re)filled. */
        float[][] transposed(float[] w, int version) {
            if (transposed == null) transposed = new float[cols][rows];
            if (version == NO_VERSION || version != transposedVersion) {
                transposeInto(w, rows, cols, transposed);
                transposedVersion = version;
            }
            return transposed;
        }

        /** W's rows at {@code version}, each its own array: kept ones where they were made from it, else (re)filled. */
        float[][] rows(float[] w, int version) {
            if (rowArrays == null) rowArrays = new float[rows][cols];
            if (version == NO_VERSION || version != rowsVersion) {
                for (int r = 0; r < rows; r++) System.arraycopy(w, r * cols, rowArrays[r], 0, cols);
                rowsVersion = version;
            }
            return rowArrays;
        }
    }

    /** Rows of W read together by {@link #transposeInto}: each row of W^T gets them as one contiguous run. */
    private static final int TRANSPOSE_ROWS = 8;

    /**
     * {@code t[c][r] = a[r * cols + c]}: the transpose of a row-major [rows, cols] matrix, eight
     * rows of it at a time (eight sequential reads, one contiguous run of eight written to each
     * row of the transpose). About twice as fast as tiles of 16 columns written one element per
     * row of the transpose (fc1's 48,000 weights: 13 against 26 us).
     */
    static void transposeInto(float[] a, int rows, int cols, float[][] t) {
        int r0 = 0;
        for (; r0 + TRANSPOSE_ROWS <= rows; r0 += TRANSPOSE_ROWS) {
            int b0 = r0 * cols, b1 = b0 + cols, b2 = b1 + cols, b3 = b2 + cols, b4 = b3 + cols, b5 = b4 + cols, b6 = b5 + cols, b7 = b6 + cols;
            for (int c = 0; c < cols; c++) {
                float[] tc = t[c];
                tc[r0] = a[b0 + c];
                tc[r0 + 1] = a[b1 + c];
                tc[r0 + 2] = a[b2 + c];
                tc[r0 + 3] = a[b3 + c];
                tc[r0 + 4] = a[b4 + c];
                tc[r0 + 5] = a[b5 + c];
                tc[r0 + 6] = a[b6 + c];
                tc[r0 + 7] = a[b7 + c];
            }
        }
        for (; r0 < rows; r0++) {
            for (int c = 0; c < cols; c++) t[c][r0] = a[r0 * cols + c];
        }
    }
}
