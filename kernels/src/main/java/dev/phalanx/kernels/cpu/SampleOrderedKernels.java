package dev.phalanx.kernels.cpu;

import java.util.ArrayList;
import java.util.List;

import dev.phalanx.kernels.reduce.SampleTree;

/**
 * The kernels of the reproducible mode (issue #13): every sample's values are computed alone,
 * with arithmetic of one fixed shape per sample (for a linear layer, OpenBLAS calls of a fixed
 * number of rows in which a row's slot is fixed by its global index, or with the pure-Java
 * kernels a row GEMM of their own; for a convolution, oneDNN's primitive of a fixed chunk of
 * images, slots fixed the same way, or one GEMM per image), so their bits do not depend on how many samples
 * share the shard; and every sum over samples
 * (weight and bias gradients) follows the one fixed {@link SampleTree} over global sample
 * indices. Samples, and a weight gradient's column ranges, are spread over the backend's
 * threads, each computing values of its own; the tree's order is the same on any thread, so
 * the thread count changes no bit.
 */
public final class SampleOrderedKernels {

    /** Samples whose contributions are computed in parallel before they are fed to the tree in order. */
    private static final int CONTRIBUTION_GROUP = 32;
    /** Columns of a weight gradient summed along the tree at once: the partial sums stay in the L1 cache. */
    private static final int TREE_COLUMNS = 512;

    private SampleOrderedKernels() { }

    /**
     * The weight version that keeps no copies of W: pass it where the weight's array was made
     * for this call (a converted or non-contiguous weight), so a later array cannot be mistaken for it.
     */
    public static final int NO_WEIGHT_VERSION = WeightLayouts.NO_VERSION;

    /**
     * y[r] = x[r] W^T + bias, each row's bits independent of the shard around it. With OpenBLAS
     * (the native kernels): in calls of {@link #linearSlots} rows in which global row i always
     * takes slot {@code i % slots} (see {@link #slotRows}). With the pure-Java kernels: each row
     * alone (see {@link #rowTimes}), machine-independent bits; W is [out, in], at storage version
     * {@code wVersion} (or {@link #NO_WEIGHT_VERSION}): W^T's rows are the backend's kept copy
     * where W has not changed since it was made, else refilled ({@link WeightLayouts}).
     * {@code first} is the global index of row 0, {@code batch} the global batch. Overwrites y.
     */
    public static void linearForward(CpuBackend be, int rows, int in, int out, float[] x, float[] w, int wVersion, float[] bias, float[] y,
                                     int first, int batch) {
        if (be.gemm() instanceof OpenBlasGemm blas) {
            slotRows(be, blas, true, rows, out, in, x, w, y, first, batch);
            if (bias != null) {
                for (int r = 0; r < rows; r++) for (int j = 0; j < out; j++) y[r * out + j] += bias[j];
            }
            return;
        }
        WeightLayouts.Copies copies = be.weightLayouts().take(w, out, in, wVersion);
        float[][] wt = copies.transposed(w, wVersion);
        eachRowTimes(be, rows, in, out, x, wt, bias, y);
        be.weightLayouts().give(w, wVersion, copies);
    }

    /** As {@link #linearForward} for a shard that is the whole batch. */
    public static void linearForward(CpuBackend be, int rows, int in, int out, float[] x, float[] w, int wVersion, float[] bias, float[] y) {
        linearForward(be, rows, in, out, x, w, wVersion, bias, y, 0, rows);
    }

    /** dx[r] = g[r] W, each row's bits independent of the shard, as {@link #linearForward} (the Java path keeps W's rows). Overwrites dx. */
    public static void linearBackwardData(CpuBackend be, int rows, int in, int out, float[] g, float[] w, int wVersion, float[] dx,
                                          int first, int batch) {
        if (be.gemm() instanceof OpenBlasGemm blas) {
            slotRows(be, blas, false, rows, in, out, g, w, dx, first, batch);
            return;
        }
        WeightLayouts.Copies copies = be.weightLayouts().take(w, out, in, wVersion);
        float[][] wRows = copies.rows(w, wVersion);
        eachRowTimes(be, rows, out, in, g, wRows, null, dx);
        be.weightLayouts().give(w, wVersion, copies);
    }

    /** As {@link #linearBackwardData} for a shard that is the whole batch. */
    public static void linearBackwardData(CpuBackend be, int rows, int in, int out, float[] g, float[] w, int wVersion, float[] dx) {
        linearBackwardData(be, rows, in, out, g, w, wVersion, dx, 0, rows);
    }

    /** Rows per OpenBLAS call in the reproducible mode's linear forward and backward-data, at most. */
    static final int LINEAR_SLOTS = 64;

    /**
     * The rows per OpenBLAS call for a global batch of {@code batch} rows: {@value #LINEAR_SLOTS},
     * or the largest power of two up to the batch where that is smaller. It depends on the global
     * batch only, so every replica puts a row in the same slot of a call of the same shape.
     */
    static int linearSlots(int batch) {
        return Math.min(LINEAR_SLOTS, Integer.highestOneBit(Math.max(1, batch)));
    }

    /**
     * c[r] = a[r] op(B) for the shard's {@code rows} rows of a ([rows, k]), through OpenBLAS calls
     * of exactly {@link #linearSlots} rows: global row i (local {@code i - first}) always in slot
     * {@code i % slots} of call {@code i / slots}, slots outside the shard zeros, their results
     * dropped. OpenBLAS picks its kernels and blocking by the shape (m, n, k) alone and never sums
     * across rows, so a row's bits depend on its values and slot only, never on the rows around
     * it: checked, not promised, for the OpenBLAS kernels of the machine at hand
     * ({@code SampleOrderedLinearTest}). B is W ([n, k] stored, {@code transB}) or W's [k, n]. The
     * calls are spread over the backend's threads, B copied once per thread.
     */
    private static void slotRows(CpuBackend be, OpenBlasGemm blas, boolean transB, int rows, int n, int k, float[] a, float[] b, float[] c,
                                 int first, int batch) {
        DnnlConv.Slots sl = new DnnlConv.Slots(first, rows, linearSlots(batch));
        int chunks = sl.chunks(), parts = be.partsFor(chunks, 2L * sl.slots() * n * k);
        int per = (chunks + parts - 1) / Math.max(1, parts);
        be.parallelFor(parts, p -> blas.slotRows(transB, n, k, a, b, c, sl, p * per, Math.min(chunks, (p + 1) * per)));
    }

    /** Rows of A multiplied together by {@link #rowPairTimes}, sharing each value of B they load. */
    static final int ROW_GROUP = 2;

    /**
     * c[r] = init + a[r] B for each of the {@code rows} rows of a ([rows, k] row-major), B given
     * as its k rows of n; {@code init} is the bias (or null: zeros). Rows go in pairs, the pairs
     * spread over the backend's threads; a row's bits are {@link #rowTimes}'s whatever its
     * pair or thread.
     */
    static void eachRowTimes(CpuBackend be, int rows, int k, int n, float[] a, float[][] b, float[] init, float[] c) {
        int groups = (rows + ROW_GROUP - 1) / ROW_GROUP;
        be.parallelFor(groups, 2L * ROW_GROUP * k * n, grp -> {
            int r0 = grp * ROW_GROUP;
            float[] acc0 = init != null ? init.clone() : new float[n];
            if (r0 + 1 < rows) {
                float[] acc1 = init != null ? init.clone() : new float[n];
                rowPairTimes(k, n, a, r0 * k, b, acc0, acc1);
                System.arraycopy(acc1, 0, c, (r0 + 1) * n, n);
            } else {
                rowTimes(k, n, a, r0 * k, b, acc0);
            }
            System.arraycopy(acc0, 0, c, r0 * n, n);
        });
    }

    /**
     * The GEMM of the reproducible mode's linear rows, pure Java whatever the backend, so a row's
     * bits depend neither on the batch nor on the BLAS library or CPU: {@code acc[j] += a[p] *
     * b[p][j]} for p = 0, 1, ... k-1 in order, a plain multiply and a plain add per term (Java
     * never fuses them), every term added (none skipped, whatever its value). Unrolling p by
     * four, written as one left-to-right expression, keeps each element's sequence and loads
     * and stores {@code acc} once per four terms. The loop runs along the output row, which
     * HotSpot vectorizes without changing any element's order; it does so (JDK 17) only where
     * every array in the loop is indexed alike, hence the row and B's rows as arrays of their
     * own, indexed from 0 (measured: about 4x the speed of the same loop on offsets into one
     * array, which stays scalar). A is read from {@code a[aOff .. aOff + k)}.
     */
    static void rowTimes(int k, int n, float[] a, int aOff, float[][] b, float[] acc) {
        int p = 0;
        for (; p + 4 <= k; p += 4) {
            float x0 = a[aOff + p], x1 = a[aOff + p + 1], x2 = a[aOff + p + 2], x3 = a[aOff + p + 3];
            float[] v0 = b[p], v1 = b[p + 1], v2 = b[p + 2], v3 = b[p + 3];
            for (int j = 0; j < n; j++) acc[j] = (((acc[j] + x0 * v0[j]) + x1 * v1[j]) + x2 * v2[j]) + x3 * v3[j];
        }
        for (; p < k; p++) {
            float x0 = a[aOff + p];
            float[] v0 = b[p];
            for (int j = 0; j < n; j++) acc[j] += x0 * v0[j];
        }
    }

    /**
     * {@link #rowTimes} for two consecutive rows of A at once (from {@code a[aOff ..)} into
     * {@code c0}, from {@code a[aOff + k ..)} into {@code c1}): each element gets the very same
     * terms in the same order, so the same bits, but each value of B loaded serves both rows,
     * and B (fc1's W^T is 192 KB, beyond the L1 cache) streams through once per two rows. Two
     * rows and two terms per pass is as large as the loop body may be: HotSpot 17 unrolls (and
     * so vectorizes) only a small loop body (about 60 nodes, {@code LoopUnrollLimit}); four rows,
     * or one row and eight terms, stayed scalar at a third of the speed. About 1.25x
     * {@link #rowTimes}'s speed at fc1's shapes (batch 64: 0.20 against 0.25 ms forward, 0.15
     * against 0.18 ms backward-data, CPU time on a loaded machine).
     */
    static void rowPairTimes(int k, int n, float[] a, int aOff, float[][] b, float[] c0, float[] c1) {
        int o0 = aOff, o1 = aOff + k;
        int p = 0;
        for (; p + 2 <= k; p += 2) {
            float x00 = a[o0 + p], x01 = a[o0 + p + 1], x10 = a[o1 + p], x11 = a[o1 + p + 1];
            float[] v0 = b[p], v1 = b[p + 1];
            for (int j = 0; j < n; j++) {
                float b0 = v0[j], b1 = v1[j];
                float s0 = c0[j], s1 = c1[j];
                c0[j] = (s0 + x00 * b0) + x01 * b1;
                c1[j] = (s1 + x10 * b0) + x11 * b1;
            }
        }
        for (; p < k; p++) {
            float x0 = a[o0 + p], x1 = a[o1 + p];
            float[] v = b[p];
            for (int j = 0; j < n; j++) {
                float bv = v[j];
                float s0 = c0[j], s1 = c1[j];
                c0[j] = s0 + x0 * bv;
                c1[j] = s1 + x1 * bv;
            }
        }
    }

    /** The rows of a row-major [rows, cols] matrix, each its own array. */
    private static float[][] rowsOf(float[] a, int rows, int cols) {
        float[][] out = new float[rows][];
        for (int r = 0; r < rows; r++) out[r] = java.util.Arrays.copyOfRange(a, r * cols, (r + 1) * cols);
        return out;
    }

    /**
     * The sums along the tree of each row's weight gradient {@code g[r]^T x[r]} (an outer
     * product: one rounding per element), for the rows of the shard whose pieces are given
     * (row r of g and x is global sample {@code firstIndex + r}). The tree is evaluated a few
     * hundred columns at a time ({@link SampleTree#sumColumns}), the column ranges spread over
     * the backend's threads: the same additions as feeding whole contributions to an
     * {@link SampleTree.Accumulator}, without an array per row.
     */
    public static List<float[]> linearWeight(CpuBackend be, int in, int out, float[] g, float[] x,
                                             List<SampleTree.Block> pieces, int firstIndex) {
        int samples = 0;
        for (SampleTree.Block p : pieces) samples += p.size();
        float[][] xRows = rowsOf(x, samples, in);          // indexed from 0, as rowTimes explains
        List<float[]> sums = pooledSums(be, pieces, out * in); // every element written by sumColumns
        int depth = SampleTree.depth(pieces);
        // column range o: row o of the [out, in] gradient, whose leaves are g[r][o] * x[r]
        int blocks = (out + WEIGHT_ROW_BLOCK - 1) / WEIGHT_ROW_BLOCK;
        long work = 2L * WEIGHT_ROW_BLOCK * samples * in;
        float[][][] scratch = new float[be.partsFor(blocks, work)][][]; // one per part, made by its own thread
        be.parallelForParts(blocks, work, (part, blk) -> {
            if (scratch[part] == null) scratch[part] = arrays(depth, in);
            for (int o = blk * WEIGHT_ROW_BLOCK; o < Math.min(out, (blk + 1) * WEIGHT_ROW_BLOCK); o++) {
                SampleTree.sumColumns(pieces, sums, o * in, (o + 1) * in, new OuterProductRow(g, out, o, xRows, firstIndex), scratch[part]);
            }
        });
        return sums;
    }

    /**
     * {@code count} arrays of {@code width} floats, made one by one: a two-dimensional
     * {@code new float[count][width]} goes through HotSpot's slow path for multi-dimensional
     * arrays (measured: about 2 % of a batch-4 step in the reproducible mode, for a few dozen
     * small arrays), a loop of one-dimensional ones through the thread's allocation buffer.
     */
    static float[][] arrays(int count, int width) {
        float[][] a = new float[count][];
        for (int i = 0; i < count; i++) a[i] = new float[width];
        return a;
    }

    /** Rows of a linear weight gradient summed along the tree by one task, with one scratch. */
    private static final int WEIGHT_ROW_BLOCK = 8;

    /**
     * The leaves of row o of a linear weight gradient: {@code g[r][o] * x[r]} for sample r. Each
     * of the tree's first levels is one pass over the row, each product rounded, then each sum
     * (Java never fuses them): the bits of writing every leaf and adding them along the tree. The
     * loops are small static methods over whole arrays indexed alike, the form HotSpot 17
     * vectorizes (see {@link #rowTimes}); one with four products in its body stayed scalar.
     */
    private record OuterProductRow(float[] g, int out, int o, float[][] xRows, int firstIndex) implements SampleTree.Leaves {
        @Override
        public void write(int sample, int from, int to, float[] dst) {
            int r = sample - firstIndex;
            scaled(dst, g[r * out + o], xRows[r]);
        }

        @Override
        public void writePair(int sample, int from, int to, float[] dst, float[] spare) {
            int r = sample - firstIndex;
            pair(dst, g[r * out + o], xRows[r], g[(r + 1) * out + o], xRows[r + 1]);
        }

        @Override
        public void addPair(int sample, int from, int to, float[] dst, float[] spare, float[] spare2) {
            int r = sample - firstIndex;
            plusPair(dst, g[r * out + o], xRows[r], g[(r + 1) * out + o], xRows[r + 1]);
        }

        @Override
        public void addPairTwice(int sample, int from, int to, float[] dst, float[] mid, float[] spare, float[] spare2) {
            int r = sample - firstIndex;
            plusMidPlusPair(dst, mid, g[r * out + o], xRows[r], g[(r + 1) * out + o], xRows[r + 1]);
        }

        /** dst = g0 x0. */
        private static void scaled(float[] dst, float g0, float[] x0) {
            for (int i = 0; i < x0.length; i++) dst[i] = g0 * x0[i];
        }

        /** dst = g0 x0 + g1 x1: a pair's node. */
        private static void pair(float[] dst, float g0, float[] x0, float g1, float[] x1) {
            for (int i = 0; i < x0.length; i++) dst[i] = g0 * x0[i] + g1 * x1[i];
        }

        /** dst = dst + (g0 x0 + g1 x1): the pair's node added to its left sibling. */
        private static void plusPair(float[] dst, float g0, float[] x0, float g1, float[] x1) {
            for (int i = 0; i < x0.length; i++) dst[i] = dst[i] + (g0 * x0[i] + g1 * x1[i]);
        }

        /** dst = dst + (mid + (g0 x0 + g1 x1)): two levels of the tree in one pass. */
        private static void plusMidPlusPair(float[] dst, float[] mid, float g0, float[] x0, float g1, float[] x1) {
            for (int i = 0; i < x0.length; i++) dst[i] = dst[i] + (mid[i] + (g0 * x0[i] + g1 * x1[i]));
        }
    }

    /** The sums along the tree of each row's bias gradient {@code g[r]}, as {@link #linearWeight}. */
    public static List<float[]> linearBias(CpuBackend be, int out, float[] g, List<SampleTree.Block> pieces, int firstIndex) {
        return sumAlongTree(be, pieces, out, (sample, from, to, dst) -> System.arraycopy(g, (sample - firstIndex) * out + from, dst, 0, to - from));
    }

    private static List<float[]> sumAlongTree(CpuBackend be, List<SampleTree.Block> pieces, int width, SampleTree.Leaves leaves) {
        List<float[]> sums = newSums(pieces, width);
        int samples = 0;
        for (SampleTree.Block p : pieces) samples += p.size();
        int ranges = (width + TREE_COLUMNS - 1) / TREE_COLUMNS, depth = SampleTree.depth(pieces);
        be.parallelFor(ranges, 2L * samples * TREE_COLUMNS, c -> {
            int from = c * TREE_COLUMNS, to = Math.min(width, from + TREE_COLUMNS);
            SampleTree.sumColumns(pieces, sums, from, to, leaves, arrays(depth, to - from));
        });
        return sums;
    }

    /**
     * As {@link #newSums}, the arrays from the backend's {@link BufferPool} (contents unspecified:
     * the caller writes every element). A fresh array of fc1's 48,000 floats cost about 8 us of
     * zeroing and allocation at batch 4, a third of its weight gradient; the replica that finishes
     * the tree gives the pieces back ({@code Reproducible.Shard.finishGradients}).
     */
    private static List<float[]> pooledSums(CpuBackend be, List<SampleTree.Block> pieces, int width) {
        List<float[]> sums = new ArrayList<>(pieces.size());
        for (int k = 0; k < pieces.size(); k++) sums.add(be.buffers().floats(width));
        return sums;
    }

    private static List<float[]> newSums(List<SampleTree.Block> pieces, int width) {
        List<float[]> sums = new ArrayList<>(pieces.size());
        for (int k = 0; k < pieces.size(); k++) sums.add(new float[width]);
        return sums;
    }

    /** A convolution's weight and bias gradients summed along the tree: one sum per piece of the shard (null where not asked for). */
    public record ConvWeightSums(List<float[]> weight, List<float[]> bias) { }

    /**
     * The sums along the tree, over the pieces of the shard that holds images {@code [first,
     * first + g.n())} of a batch of {@code batch}, of each image's weight gradient {@code dout[n]
     * x unfold(x[n])^T} and bias gradient (each channel's pixels summed). Each image alone:
     * through the backend's one-image oneDNN primitive where it has oneDNN, otherwise one GEMM
     * of the same shape per image (bias: each channel's pixels in order).
     *
     * <p>With oneDNN, the images' weight gradients are summed in the primitive's own layout
     * (blocked, perhaps padded: {@link DnnlConv#rawWeightFloats}) and each piece's sum is
     * reordered to oihw once, instead of every image's gradient: a reorder moves values and the
     * tree adds elementwise, so every element gets the same additions of the same values, the
     * same bits (tested against the image-by-image reorders, {@code SampleOrderedConvTest}).
     */
    public static ConvWeightSums convWeight(CpuBackend be, ConvGeometry g, float[] x, float[] dout,
                                            boolean wantWeight, boolean wantBias, int first, int batch) {
        if (!wantWeight && !wantBias) return new ConvWeightSums(null, null);
        int patch = g.patch(), plane = g.outPlane(), wsize = g.cout() * patch;
        int group = Math.min(g.n(), CONTRIBUTION_GROUP);
        DnnlConv dnnl = be.dnnlConv();
        int rawSize = dnnl != null ? dnnl.rawWeightFloats(g) : wsize;   // the width the images' gradients are summed in
        BufferPool pool = be.buffers();                                 // every array taken from it is written whole before it is read
        SampleTree.Accumulator weight = wantWeight ? new SampleTree.Accumulator(first, first + g.n(), batch, rawSize, pool::floats) : null;
        SampleTree.Accumulator bias = wantBias ? new SampleTree.Accumulator(first, first + g.n(), batch, g.cout()) : null;
        float[][] dw = null;
        if (weight != null || dnnl != null) {
            dw = new float[group][];
            for (int j = 0; j < group; j++) dw[j] = pool.floats(rawSize);
        }
        float[][] db = bias == null && dnnl == null ? null : arrays(group, g.cout());
        float[][] dwImages = dw;
        for (int from = 0; from < g.n(); from += CONTRIBUTION_GROUP) {
            int start = from, count = Math.min(g.n() - from, CONTRIBUTION_GROUP);
            if (dnnl != null) {
                dnnl.backwardWeightsEachImage(g, x, dout, start, count, dw, db, true);
            } else {
                be.parallelFor(count, 2L * wsize * plane, j -> {
                    int img = start + j;
                    if (dwImages != null) {
                        float[] col = new float[patch * plane];
                        ConvKernels.unfold(g, x, img * g.inImage(), col, 0, plane);
                        be.gemm().sgemm(false, true, g.cout(), patch, plane, dout, img * g.outImage(), col, 0, dwImages[j], 0, false);
                    }
                    if (db != null) {
                        for (int co = 0; co < g.cout(); co++) {
                            int base = img * g.outImage() + co * plane;
                            float s = 0f;
                            for (int i = 0; i < plane; i++) s += dout[base + i];
                            db[j][co] = s;
                        }
                    }
                });
            }
            for (int j = 0; j < count; j++) {
                if (weight != null) weight.add(first + start + j, dw[j]);
                if (bias != null) bias.add(first + start + j, db[j]);
            }
        }
        if (dw != null) for (float[] a : dw) pool.recycle(a);
        List<float[]> weightSums = weight == null ? null : weight.sums();
        if (weight != null) weight.releaseBuffers(pool::recycle);
        if (weightSums != null && dnnl != null) {
            List<float[]> plain = new ArrayList<>(weightSums.size());
            for (float[] raw : weightSums) {
                float[] p = pool.floats(wsize);
                dnnl.weightsToPlain(g, raw, p);
                plain.add(p);
                pool.recycle(raw);
            }
            weightSums = plain;
        }
        // the pieces' sums are pool arrays too: 1 replica's finishGradients gives them back
        return new ConvWeightSums(weightSums, bias == null ? null : bias.sums());
    }

    /** Images per oneDNN call in the reproducible mode's convolution forward and backward-data, at most. */
    static final int CONV_SLOTS = 8;

    /**
     * The chunk of a convolution's forward and backward-data in a batch of {@code batch} images:
     * {@value #CONV_SLOTS} images, or fewer where the whole batch is smaller (a batch of 4: one
     * chunk of 4, as the default mode's one call). It depends on the global batch only, which
     * every replica knows, so every replica puts an image in the same slot of the same primitive.
     */
    static int convSlots(int batch) {
        return Math.min(CONV_SLOTS, Integer.highestOneBit(Math.max(1, batch)));
    }

    /**
     * out[n] = W x unfold(x[n]) + bias, each image's bits independent of the shard around it:
     * where the backend has oneDNN, through a primitive of {@link #convSlots} images in which
     * global image i always takes slot {@code i % slots} (slots outside the shard are zeros;
     * a convolution never mixes images, so an image's values depend on its own input and slot
     * alone); otherwise one GEMM per image. {@code first} is the global index of the shard's
     * first image, {@code batch} the global batch. Overwrites out.
     */
    public static void convForward(CpuBackend be, ConvGeometry g, float[] x, float[] weight, float[] bias, float[] out, int first, int batch) {
        if (be.dnnlConv() != null) {
            be.dnnlConv().forwardInSlots(g, x, weight, bias, out, first, convSlots(batch));
            return;
        }
        int patch = g.patch(), plane = g.outPlane();
        be.parallelFor(g.n(), 2L * g.cout() * patch * plane, img -> {
            float[] col = new float[patch * plane];
            ConvKernels.unfold(g, x, img * g.inImage(), col, 0, plane);
            int o = img * g.outImage();
            be.gemm().sgemm(false, false, g.cout(), plane, patch, weight, 0, col, 0, out, o, false);
            if (bias != null) {
                for (int co = 0; co < g.cout(); co++) {
                    float b = bias[co];
                    for (int i = 0; i < plane; i++) out[o + co * plane + i] += b;
                }
            }
        });
    }

    /** dx[n] = fold(W^T x dout[n]), in the chunks of {@link #convForward}, or one GEMM per image. Overwrites dx. */
    public static void convBackwardData(CpuBackend be, ConvGeometry g, float[] dout, float[] weight, float[] dx, int first, int batch) {
        if (be.dnnlConv() != null) {
            be.dnnlConv().backwardDataInSlots(g, dout, weight, dx, first, convSlots(batch));
            return;
        }
        int patch = g.patch(), plane = g.outPlane();
        be.parallelFor(g.n(), 2L * g.cout() * patch * plane, img -> {
            float[] dcol = new float[patch * plane];
            be.gemm().sgemm(true, false, patch, plane, g.cout(), weight, 0, dout, img * g.outImage(), dcol, 0, false);
            int xo = img * g.inImage();
            java.util.Arrays.fill(dx, xo, xo + g.inImage(), 0f);
            ConvKernels.fold(g, dcol, 0, plane, dx, xo);
        });
    }
}
