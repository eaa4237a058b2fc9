package dev.phalanx.kernels.cpu;

import java.util.ArrayList;
import java.util.List;

import dev.phalanx.kernels.reduce.SampleTree;

/**
 * The kernels of the reproducible mode (issue #13): every sample's values are computed by a
 * GEMM call of one fixed shape per sample (M = 1 for a linear layer, one image for a
 * convolution), so their bits do not depend on how many samples share the shard; and every sum
 * over samples (weight and bias gradients) goes, one sample's contribution at a time in global
 * order, into a {@link SampleTree.Accumulator}, so it follows the one fixed tree. Samples are
 * spread over the backend's threads, each computing its own rows; the tree is fed in order
 * afterwards, so the thread count changes no bit.
 */
public final class SampleOrderedKernels {

    /** Samples whose contributions are computed in parallel before they are fed to the tree in order. */
    private static final int CONTRIBUTION_GROUP = 32;
    /** Rows computed together by {@link #rowsTimes}: each value of B is loaded once for this many rows. */
    private static final int ROW_BLOCK = 4;
    /** Columns of a weight gradient summed along the tree at once: the partial sums stay in the L1 cache. */
    private static final int TREE_COLUMNS = 512;

    private SampleOrderedKernels() { }

    /** y[r] = x[r] W^T + bias, each row alone (see {@link #rowsTimes}). W is [out, in]. Overwrites y. */
    public static void linearForward(CpuBackend be, int rows, int in, int out, float[] x, float[] w, float[] bias, float[] y) {
        float[] wt = transpose(w, out, in); // [in, out]: the same B for every row, copied once
        int blocks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
        be.parallelFor(blocks, 2L * ROW_BLOCK * in * out, blk -> {
            int r0 = blk * ROW_BLOCK, count = Math.min(ROW_BLOCK, rows - r0);
            for (int r = r0; r < r0 + count; r++) {
                if (bias != null) System.arraycopy(bias, 0, y, r * out, out);
                else java.util.Arrays.fill(y, r * out, (r + 1) * out, 0f);
            }
            rowsTimes(count, in, out, x, r0 * in, wt, y, r0 * out);
        });
    }

    /** dx[r] = g[r] W, each row alone (see {@link #rowsTimes}). Overwrites dx. */
    public static void linearBackwardData(CpuBackend be, int rows, int in, int out, float[] g, float[] w, float[] dx) {
        int blocks = (rows + ROW_BLOCK - 1) / ROW_BLOCK;
        be.parallelFor(blocks, 2L * ROW_BLOCK * in * out, blk -> {
            int r0 = blk * ROW_BLOCK, count = Math.min(ROW_BLOCK, rows - r0);
            java.util.Arrays.fill(dx, r0 * in, (r0 + count) * in, 0f);
            rowsTimes(count, out, in, g, r0 * out, w, dx, r0 * in);
        });
    }

    /**
     * The GEMM of the reproducible mode's linear rows, pure Java whatever the backend, so a row's
     * bits depend neither on the batch nor on the BLAS library or CPU: for each of {@code rows}
     * (at most {@link #ROW_BLOCK}) rows r, {@code c[r][j] += a[r][p] * b[p][j]} for p = 0, 1, ...
     * in order, a plain multiply and a plain add per term (Java never fuses them), every term
     * added (none skipped, whatever its value). That sequence is each element's own: it is the
     * same whether the row is computed alone or beside others, so blocking rows (to load each
     * value of B once for several rows) and unrolling p (to load and store c once for two
     * terms, written as one left-to-right expression) change no bit. The loops run along the
     * output row, which HotSpot vectorizes without changing any element's order.
     * A is [rows, k] at aOff, B is [k, n], C is [rows, n] at cOff.
     */
    static void rowsTimes(int rows, int k, int n, float[] a, int aOff, float[] b, float[] c, int cOff) {
        if (rows == ROW_BLOCK) {
            int c0 = cOff, c1 = c0 + n, c2 = c1 + n, c3 = c2 + n;
            int a0 = aOff, a1 = a0 + k, a2 = a1 + k, a3 = a2 + k;
            int p = 0;
            for (; p + 2 <= k; p += 2) {
                float x00 = a[a0 + p], x01 = a[a0 + p + 1], x10 = a[a1 + p], x11 = a[a1 + p + 1];
                float x20 = a[a2 + p], x21 = a[a2 + p + 1], x30 = a[a3 + p], x31 = a[a3 + p + 1];
                int b0 = p * n, b1 = b0 + n;
                for (int j = 0; j < n; j++) {
                    float v0 = b[b0 + j], v1 = b[b1 + j];
                    c[c0 + j] = (c[c0 + j] + x00 * v0) + x01 * v1;
                    c[c1 + j] = (c[c1 + j] + x10 * v0) + x11 * v1;
                    c[c2 + j] = (c[c2 + j] + x20 * v0) + x21 * v1;
                    c[c3 + j] = (c[c3 + j] + x30 * v0) + x31 * v1;
                }
            }
            for (; p < k; p++) {
                float x0 = a[a0 + p], x1 = a[a1 + p], x2 = a[a2 + p], x3 = a[a3 + p];
                int b0 = p * n;
                for (int j = 0; j < n; j++) {
                    float v = b[b0 + j];
                    c[c0 + j] += x0 * v;
                    c[c1 + j] += x1 * v;
                    c[c2 + j] += x2 * v;
                    c[c3 + j] += x3 * v;
                }
            }
            return;
        }
        for (int r = 0; r < rows; r++) {
            int cr = cOff + r * n, ar = aOff + r * k;
            int p = 0;
            for (; p + 2 <= k; p += 2) {
                float x0 = a[ar + p], x1 = a[ar + p + 1];
                int b0 = p * n, b1 = b0 + n;
                for (int j = 0; j < n; j++) c[cr + j] = (c[cr + j] + x0 * b[b0 + j]) + x1 * b[b1 + j];
            }
            for (; p < k; p++) {
                float x0 = a[ar + p];
                int b0 = p * n;
                for (int j = 0; j < n; j++) c[cr + j] += x0 * b[b0 + j];
            }
        }
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
        SampleTree.Leaves leaves = (sample, from, to, dst) -> {
            int r = sample - firstIndex, e = from;
            while (e < to) {                                // columns [from, to) of the row-major [out, in] product
                int o = e / in, i = e - o * in, len = Math.min(to - e, in - i);
                float go = g[r * out + o];
                int xr = r * in + i, d = e - from;
                for (int t = 0; t < len; t++) dst[d + t] = go * x[xr + t];
                e += len;
            }
        };
        return sumAlongTree(be, pieces, out * in, leaves);
    }

    /** The sums along the tree of each row's bias gradient {@code g[r]}, as {@link #linearWeight}. */
    public static List<float[]> linearBias(CpuBackend be, int out, float[] g, List<SampleTree.Block> pieces, int firstIndex) {
        return sumAlongTree(be, pieces, out, (sample, from, to, dst) -> System.arraycopy(g, (sample - firstIndex) * out + from, dst, 0, to - from));
    }

    private static List<float[]> sumAlongTree(CpuBackend be, List<SampleTree.Block> pieces, int width, SampleTree.Leaves leaves) {
        List<float[]> sums = new ArrayList<>(pieces.size());
        for (int k = 0; k < pieces.size(); k++) sums.add(new float[width]);
        int samples = 0;
        for (SampleTree.Block p : pieces) samples += p.size();
        int ranges = (width + TREE_COLUMNS - 1) / TREE_COLUMNS, depth = SampleTree.depth(pieces);
        be.parallelFor(ranges, 2L * samples * TREE_COLUMNS, c -> {
            int from = c * TREE_COLUMNS, to = Math.min(width, from + TREE_COLUMNS);
            SampleTree.sumColumns(pieces, sums, from, to, leaves, new float[depth][to - from]);
        });
        return sums;
    }

    /**
     * Feeds each image's weight gradient {@code dout[n] x unfold(x[n])^T} and bias gradient
     * (each channel's pixels summed) to the accumulators (either may be null), in global order.
     * Each image alone: through the backend's one-image oneDNN primitive where it has oneDNN,
     * otherwise one GEMM of the same shape per image (bias: each channel's pixels in order).
     */
    public static void convWeight(CpuBackend be, ConvGeometry g, float[] x, float[] dout,
                                  SampleTree.Accumulator weight, SampleTree.Accumulator bias, int firstIndex) {
        int patch = g.patch(), plane = g.outPlane(), wsize = g.cout() * patch;
        int group = Math.min(g.n(), CONTRIBUTION_GROUP);
        DnnlConv dnnl = be.dnnlConv();
        float[][] dw = weight == null && dnnl == null ? null : new float[group][wsize];
        float[][] db = bias == null && dnnl == null ? null : new float[group][g.cout()];
        for (int from = 0; from < g.n(); from += CONTRIBUTION_GROUP) {
            int first = from, count = Math.min(g.n() - from, CONTRIBUTION_GROUP);
            if (dnnl != null) {
                dnnl.backwardWeightsEachImage(g, x, dout, first, count, dw, db);
            } else {
                be.parallelFor(count, 2L * wsize * plane, j -> {
                    int img = first + j;
                    if (dw != null) {
                        float[] col = new float[patch * plane];
                        ConvKernels.unfold(g, x, img * g.inImage(), col, 0, plane);
                        be.gemm().sgemm(false, true, g.cout(), patch, plane, dout, img * g.outImage(), col, 0, dw[j], 0, false);
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
                if (weight != null) weight.add(firstIndex + first + j, dw[j]);
                if (bias != null) bias.add(firstIndex + first + j, db[j]);
            }
        }
    }

    /**
     * out[n] = W x unfold(x[n]) + bias, each image alone whatever the geometry's batch: through
     * the backend's one-image oneDNN primitive where it has oneDNN, otherwise one GEMM per
     * image. Overwrites out.
     */
    public static void convForward(CpuBackend be, ConvGeometry g, float[] x, float[] weight, float[] bias, float[] out) {
        if (be.dnnlConv() != null) {
            be.dnnlConv().forwardEachImage(g, x, weight, bias, out);
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

    /** dx[n] = fold(W^T x dout[n]), each image alone (as {@link #convForward}). Overwrites dx. */
    public static void convBackwardData(CpuBackend be, ConvGeometry g, float[] dout, float[] weight, float[] dx) {
        if (be.dnnlConv() != null) {
            be.dnnlConv().backwardDataEachImage(g, dout, weight, dx);
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

    private static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[a.length];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
        return t;
    }
}
