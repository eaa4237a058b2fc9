package dev.phalanx.kernels.cpu;

/**
 * Convolutions: through oneDNN where the backend has it ({@link DnnlConv}), otherwise as unfold
 * (im2col) plus GEMM, the fallback kept here. Images are processed in chunks of {@value #CHUNK}
 * whose unfolded columns sit side by side, one GEMM per chunk (measured: one image per GEMM
 * was as fast as four with OpenBLAS on LeNet's shapes, and needs no gather/scatter copies).
 * Weight gradients accumulate over groups of {@value #WEIGHT_GRAD_GROUP} images, one partial
 * sum per group, so memory stays bounded for wide layers. Chunks and groups are spread over the
 * backend's threads; their boundaries do not depend on the thread count, so neither do the
 * results. Forward, backward-data and backward-weight side by side.
 */
public final class ConvKernels {

    /** Images per GEMM. */
    static final int CHUNK = 1;
    /** Images per partial weight gradient. */
    static final int WEIGHT_GRAD_GROUP = 8;
    /** The lane scratch slot of the unfolded columns (forward, backward-weight) or their gradient (backward-data). */
    private static final int COLUMNS = 0;
    /** Scratch arrays per lane (CpuBackend keeps them). */
    static final int SCRATCH_SLOTS = 1;

    private ConvKernels() { }

    /** Multiply-adds, times two, of one image's GEMM. */
    private static long gemmWork(ConvGeometry g) {
        return 2L * g.cout() * g.patch() * g.outPlane();
    }

    private static int chunks(ConvGeometry g) {
        return (g.n() + CHUNK - 1) / CHUNK;
    }

    /** out[n] = W x unfold(x[n]) + bias. */
    public static void forward(CpuBackend be, ConvGeometry g, float[] x, float[] weight, float[] bias, float[] out) {
        if (be.dnnlConv() != null && g.n() > 0) {
            be.dnnlConv().forward(g, x, weight, bias, out);
            return;
        }
        int patch = g.patch(), plane = g.outPlane();
        LaneScratch scratch = be.convScratch();
        Runs runs = JavaKernels.runs();
        synchronized (scratch) {
            be.parallelForParts(chunks(g), gemmWork(g) * CHUNK, (lane, chunk) -> {
                int from = chunk * CHUNK, cn = Math.min(g.n(), from + CHUNK) - from, cols = cn * plane;
                float[] col = scratch.get(lane, COLUMNS, patch * cols);
                for (int j = 0; j < cn; j++) unfold(g, x, (from + j) * g.inImage(), col, j * plane, cols, runs);
                float[] y = cn == 1 ? out : new float[g.cout() * cols];
                int yOff = cn == 1 ? from * g.outImage() : 0;
                be.gemm().sgemm(false, false, g.cout(), cols, patch, weight, 0, col, 0, y, yOff, false);
                for (int j = 0; j < cn; j++) {
                    int o = (from + j) * g.outImage();
                    for (int co = 0; co < g.cout(); co++) {
                        int dst = o + co * plane, src = yOff + co * cols + j * plane;
                        if (cn > 1) System.arraycopy(y, src, out, dst, plane);
                        if (bias != null) {
                            float b = bias[co];
                            for (int i = 0; i < plane; i++) out[dst + i] += b;
                        }
                    }
                }
            });
        }
    }

    /** dx[n] = fold(W^T x dout[n]). Overwrites dx. */
    public static void backwardData(CpuBackend be, ConvGeometry g, float[] dout, float[] weight, float[] dx) {
        if (be.dnnlConv() != null && g.n() > 0) {
            be.dnnlConv().backwardData(g, dout, weight, dx);
            return;
        }
        int patch = g.patch(), plane = g.outPlane();
        LaneScratch scratch = be.convScratch();
        Runs runs = JavaKernels.runs();
        synchronized (scratch) {
            be.parallelForParts(chunks(g), gemmWork(g) * CHUNK, (lane, chunk) -> {
                int from = chunk * CHUNK, cn = Math.min(g.n(), from + CHUNK) - from, cols = cn * plane;
                float[] a = cn == 1 ? dout : gatherOutput(g, dout, from, cn);
                int aOff = cn == 1 ? from * g.outImage() : 0;
                float[] dcol = scratch.get(lane, COLUMNS, patch * cols);
                be.gemm().sgemm(true, false, patch, cols, g.cout(), weight, 0, a, aOff, dcol, 0, false);
                for (int j = 0; j < cn; j++) {
                    int xo = (from + j) * g.inImage();
                    java.util.Arrays.fill(dx, xo, xo + g.inImage(), 0f);
                    fold(g, dcol, j * plane, cols, dx, xo, runs);
                }
            });
        }
    }

    /** dW = sum over images of dout[n] x unfold(x[n])^T; db = sum over n and pixels of dout. Overwrites both. */
    public static void backwardWeight(CpuBackend be, ConvGeometry g, float[] x, float[] dout, float[] dweight, float[] dbias) {
        if (be.dnnlConv() != null && g.n() > 0) {
            be.dnnlConv().backwardWeight(g, x, dout, dweight, dbias);
            return;
        }
        int patch = g.patch(), plane = g.outPlane(), wsize = g.cout() * patch;
        int groups = (g.n() + WEIGHT_GRAD_GROUP - 1) / WEIGHT_GRAD_GROUP;
        float[][] partial = new float[groups][];
        LaneScratch scratch = be.convScratch();
        Runs runs = JavaKernels.runs();
        synchronized (scratch) {
            be.parallelForParts(groups, gemmWork(g) * WEIGHT_GRAD_GROUP, (lane, group) -> {
                float[] acc = group == 0 ? dweight : new float[wsize];
                int first = group * WEIGHT_GRAD_GROUP, end = Math.min(g.n(), first + WEIGHT_GRAD_GROUP);
                for (int from = first; from < end; from += CHUNK) {
                    int cn = Math.min(end, from + CHUNK) - from, cols = cn * plane;
                    // the columns transposed (one row of patch values per pixel): the GEMM's B as it reads
                    // it, so no GEMM transposes a copy of its own; the same products in the same order
                    float[] rows = scratch.get(lane, COLUMNS, patch * cols);
                    for (int j = 0; j < cn; j++) unfoldRows(g, x, (from + j) * g.inImage(), rows, j * plane, runs);
                    float[] a = cn == 1 ? dout : gatherOutput(g, dout, from, cn);
                    int aOff = cn == 1 ? from * g.outImage() : 0;
                    be.gemm().sgemm(false, false, g.cout(), patch, cols, a, aOff, rows, 0, acc, 0, from > first);
                }
                partial[group] = acc;
            });
        }
        for (int c = 1; c < groups; c++) {
            float[] p = partial[c];
            for (int i = 0; i < wsize; i++) dweight[i] += p[i];
        }
        if (dbias != null) {
            java.util.Arrays.fill(dbias, 0, g.cout(), 0f);
            for (int img = 0; img < g.n(); img++) {
                for (int co = 0; co < g.cout(); co++) {
                    int base = img * g.outImage() + co * plane;
                    float s = 0f;
                    for (int i = 0; i < plane; i++) s += dout[base + i];
                    dbias[co] += s;
                }
            }
        }
    }

    /** dout of images [from, from+cn) as one [cout, cn*plane] matrix (the chunk's images side by side). */
    private static float[] gatherOutput(ConvGeometry g, float[] dout, int from, int cn) {
        int plane = g.outPlane(), cols = cn * plane;
        if (cn == 1) return java.util.Arrays.copyOfRange(dout, from * g.outImage(), (from + 1) * g.outImage());
        float[] a = new float[g.cout() * cols];
        for (int j = 0; j < cn; j++)
            for (int co = 0; co < g.cout(); co++)
                System.arraycopy(dout, (from + j) * g.outImage() + co * plane, a, co * cols + j * plane, plane);
        return a;
    }

    /**
     * im2col of one image into columns [colOff, colOff+plane) of a matrix whose rows are
     * {@code rowStride} long: col[(c, ki, kj), (oy, ox)] = x[c, oy*sh - ph + ki, ox*sw - pw + kj], zero outside.
     */
    static void unfold(ConvGeometry g, float[] x, int xOff, float[] col, int colOff, int rowStride) {
        unfold(g, x, xOff, col, colOff, rowStride, Runs.SCALAR);
    }

    /** As {@link #unfold(ConvGeometry, float[], int, float[], int, int)}, the runs of input moved by {@code runs}. */
    static void unfold(ConvGeometry g, float[] x, int xOff, float[] col, int colOff, int rowStride, Runs runs) {
        int oh = g.oh(), ow = g.ow();
        int row = 0;
        for (int c = 0; c < g.cin(); c++) {
            int xc = xOff + c * g.h() * g.w();
            for (int ki = 0; ki < g.kh(); ki++) {
                for (int kj = 0; kj < g.kw(); kj++, row++) {
                    int base = row * rowStride + colOff;
                    int ix0 = kj - g.pw(), iyFirst = ki - g.ph(), iyLast = (oh - 1) * g.sh() - g.ph() + ki;
                    if (g.sw() == 1 && ix0 >= 0 && ix0 + ow <= g.w() && iyFirst >= 0 && iyLast < g.h()) {
                        // every output row's run inside the image (no padding reached): one call for the row
                        runs.copyRuns(x, xc + iyFirst * g.w() + ix0, g.sh() * g.w(), col, base, ow, oh, ow, base + oh * ow);
                        continue;
                    }
                    for (int oy = 0; oy < oh; oy++) {
                        int iy = oy * g.sh() - g.ph() + ki;
                        int dst = base + oy * ow;
                        if (iy < 0 || iy >= g.h()) {
                            java.util.Arrays.fill(col, dst, dst + ow, 0f);
                            continue;
                        }
                        int src = xc + iy * g.w();
                        if (g.sw() == 1) {
                            int lo = Math.max(0, -ix0), hi = Math.min(ow, g.w() - ix0);
                            if (lo > 0) java.util.Arrays.fill(col, dst, dst + Math.min(lo, ow), 0f);
                            if (hi > lo) runs.copy(x, src + ix0 + lo, col, dst + lo, hi - lo, base + oh * ow); // the rest of this row is written next
                            if (hi < ow) java.util.Arrays.fill(col, dst + Math.max(hi, lo), dst + ow, 0f);
                        } else {
                            for (int ox = 0; ox < ow; ox++) {
                                int ix = ox * g.sw() - g.pw() + kj;
                                col[dst + ox] = ix >= 0 && ix < g.w() ? x[src + ix] : 0f;
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * im2row of one image: the transpose of {@link #unfold}, row {@code rowOff + pixel} holding
     * that output pixel's patch, {@code rows[(rowOff + oy*ow + ox) * patch + (c, ki, kj)]}.
     * Each (c, ki) is a run of kw inputs of one input row, copied whole where the window lies
     * inside the image.
     */
    static void unfoldRows(ConvGeometry g, float[] x, int xOff, float[] rows, int rowOff) {
        unfoldRows(g, x, xOff, rows, rowOff, Runs.SCALAR);
    }

    /** As {@link #unfoldRows(ConvGeometry, float[], int, float[], int)}, the runs of kw inputs moved by {@code runs}. */
    static void unfoldRows(ConvGeometry g, float[] x, int xOff, float[] rows, int rowOff, Runs runs) {
        int patch = g.patch(), kw = g.kw(), w = g.w(), h = g.h();
        int end = (rowOff + g.outPlane()) * patch; // written in increasing order up to here
        for (int oy = 0; oy < g.oh(); oy++) {
            int iy0 = oy * g.sh() - g.ph();
            boolean rowsInside = iy0 >= 0 && iy0 + g.kh() <= h;
            for (int ox = 0; ox < g.ow(); ox++) {
                int dst = (rowOff + oy * g.ow() + ox) * patch;
                int ix0 = ox * g.sw() - g.pw();
                boolean inside = ix0 >= 0 && ix0 + kw <= w;
                if (inside && rowsInside) { // the whole window in the image: the common case, in one call
                    runs.window(x, xOff + iy0 * w + ix0, g.cin(), h * w, g.kh(), w, kw, rows, dst, end);
                    continue;
                }
                for (int c = 0; c < g.cin(); c++) {
                    int xc = xOff + c * h * w;
                    for (int ki = 0; ki < g.kh(); ki++, dst += kw) {
                        int iy = oy * g.sh() - g.ph() + ki;
                        if (iy < 0 || iy >= h) {
                            java.util.Arrays.fill(rows, dst, dst + kw, 0f);
                        } else if (inside) {
                            runs.copy(x, xc + iy * w + ix0, rows, dst, kw, end);
                        } else {
                            int src = xc + iy * w;
                            for (int kj = 0; kj < kw; kj++) {
                                int ix = ix0 + kj;
                                rows[dst + kj] = ix >= 0 && ix < w ? x[src + ix] : 0f;
                            }
                        }
                    }
                }
            }
        }
    }

    /** col2im: the adjoint of unfold; adds every column entry back onto the pixel it came from. */
    static void fold(ConvGeometry g, float[] col, int colOff, int rowStride, float[] dx, int dxOff) {
        fold(g, col, colOff, rowStride, dx, dxOff, Runs.SCALAR);
    }

    /** As {@link #fold(ConvGeometry, float[], int, int, float[], int)}, the runs added by {@code runs} (the same adds in the same order). */
    static void fold(ConvGeometry g, float[] col, int colOff, int rowStride, float[] dx, int dxOff, Runs runs) {
        int oh = g.oh(), ow = g.ow();
        int row = 0;
        for (int c = 0; c < g.cin(); c++) {
            int xc = dxOff + c * g.h() * g.w();
            for (int ki = 0; ki < g.kh(); ki++) {
                for (int kj = 0; kj < g.kw(); kj++, row++) {
                    int base = row * rowStride + colOff;
                    for (int oy = 0; oy < oh; oy++) {
                        int iy = oy * g.sh() - g.ph() + ki;
                        if (iy < 0 || iy >= g.h()) continue;
                        int dst = xc + iy * g.w(), src = base + oy * ow;
                        if (g.sw() == 1) {
                            int ix0 = kj - g.pw();
                            int lo = Math.max(0, -ix0), hi = Math.min(ow, g.w() - ix0);
                            if (hi > lo) runs.add(col, src + lo, dx, dst + ix0 + lo, hi - lo, dxOff + g.inImage()); // this image's dx is ours
                        } else {
                            for (int ox = 0; ox < ow; ox++) {
                                int ix = ox * g.sw() - g.pw() + kj;
                                if (ix >= 0 && ix < g.w()) dx[dst + ix] += col[src + ox];
                            }
                        }
                    }
                }
            }
        }
    }
}
