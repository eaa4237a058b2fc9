package dev.phalanx.kernels.cpu;

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

    /**
     * The GEMM for one row of a linear layer: pure Java whatever the backend, so a row's bits
     * depend neither on the batch nor on the BLAS library or CPU. Each output element is summed
     * in order over k with a plain multiply and add (Java never fuses them); the loop runs along
     * the output row, which HotSpot vectorizes without changing any element's order. It is
     * also several times faster than a native GEMM called with M = 1 (no packing, no call cost).
     */
    private static final Gemm ROW_GEMM = new JavaGemm();

    private SampleOrderedKernels() { }

    /** y[r] = x[r] W^T + bias, one pure-Java GEMM of M = 1 per row. W is [out, in]. Overwrites y. */
    public static void linearForward(CpuBackend be, int rows, int in, int out, float[] x, float[] w, float[] bias, float[] y) {
        float[] wt = transpose(w, out, in); // [in, out]: the same B for every row, copied once
        be.parallelFor(rows, 2L * in * out, r -> {
            if (bias != null) System.arraycopy(bias, 0, y, r * out, out);
            ROW_GEMM.sgemm(false, false, 1, out, in, x, r * in, wt, 0, y, r * out, bias != null);
        });
    }

    /** dx[r] = g[r] W, one pure-Java GEMM of M = 1 per row. Overwrites dx. */
    public static void linearBackwardData(CpuBackend be, int rows, int in, int out, float[] g, float[] w, float[] dx) {
        be.parallelFor(rows, 2L * in * out, r -> ROW_GEMM.sgemm(false, false, 1, in, out, g, r * out, w, 0, dx, r * in, false));
    }

    /**
     * Feeds each row's weight gradient {@code g[r]^T x[r]} (an outer product: one rounding per
     * element) and bias gradient {@code g[r]} to the accumulators (either may be null).
     */
    public static void linearWeight(CpuBackend be, int rows, int in, int out, float[] g, float[] x,
                                    SampleTree.Accumulator weight, SampleTree.Accumulator bias, int firstIndex) {
        if (weight == null) {
            for (int r = 0; r < rows; r++) bias.add(firstIndex + r, java.util.Arrays.copyOfRange(g, r * out, (r + 1) * out));
            return;
        }
        float[][] contributions = new float[Math.min(rows, CONTRIBUTION_GROUP)][out * in];
        for (int from = 0; from < rows; from += CONTRIBUTION_GROUP) {
            int first = from, count = Math.min(rows - from, CONTRIBUTION_GROUP);
            be.parallelFor(count, 2L * in * out, j -> {
                int r = first + j;
                float[] c = contributions[j];
                for (int o = 0; o < out; o++) {
                    float go = g[r * out + o];
                    int base = o * in, xr = r * in;
                    for (int i = 0; i < in; i++) c[base + i] = go * x[xr + i];
                }
            });
            for (int j = 0; j < count; j++) {
                int r = first + j;
                weight.add(firstIndex + r, contributions[j]);
                if (bias != null) bias.add(firstIndex + r, java.util.Arrays.copyOfRange(g, r * out, (r + 1) * out));
            }
        }
    }

    /**
     * Feeds each image's weight gradient {@code dout[n] x unfold(x[n])^T} (one GEMM of the same
     * shape per image) and bias gradient (each channel's pixels summed in order) to the
     * accumulators (either may be null).
     */
    public static void convWeight(CpuBackend be, ConvGeometry g, float[] x, float[] dout,
                                  SampleTree.Accumulator weight, SampleTree.Accumulator bias, int firstIndex) {
        int patch = g.patch(), plane = g.outPlane(), wsize = g.cout() * patch;
        int group = Math.min(g.n(), CONTRIBUTION_GROUP);
        float[][] dw = weight == null ? null : new float[group][wsize];
        float[][] db = bias == null ? null : new float[group][g.cout()];
        for (int from = 0; from < g.n(); from += CONTRIBUTION_GROUP) {
            int first = from, count = Math.min(g.n() - from, CONTRIBUTION_GROUP);
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
            for (int j = 0; j < count; j++) {
                if (dw != null) weight.add(firstIndex + first + j, dw[j]);
                if (db != null) bias.add(firstIndex + first + j, db[j]);
            }
        }
    }

    /** out[n] = W x unfold(x[n]) + bias, one GEMM per image, whatever the geometry's batch. Overwrites out. */
    public static void convForward(CpuBackend be, ConvGeometry g, float[] x, float[] weight, float[] bias, float[] out) {
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

    /** dx[n] = fold(W^T x dout[n]), one GEMM per image. Overwrites dx. */
    public static void convBackwardData(CpuBackend be, ConvGeometry g, float[] dout, float[] weight, float[] dx) {
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
