package dev.phalanx.kernels.cpu;

/**
 * Convolution as unfold (im2col) plus GEMM, one image at a time, images spread over the
 * backend's threads. Forward, backward-data and backward-weight side by side.
 */
public final class ConvKernels {

    /** Images per partial weight gradient: fixed, so that results do not depend on threads. */
    static final int WEIGHT_GRAD_CHUNK = 8;

    private ConvKernels() { }

    /** out[n] = W x unfold(x[n]) + bias. */
    public static void forward(CpuBackend be, ConvGeometry g, float[] x, float[] weight, float[] bias, float[] out) {
        int patch = g.patch(), plane = g.outPlane();
        be.parallelFor(g.n(), img -> {
            float[] col = unfold(g, x, img * g.inImage(), new float[patch * plane]);
            int o = img * g.outImage();
            be.gemm().sgemm(false, false, g.cout(), plane, patch, weight, 0, col, 0, out, o, false);
            if (bias != null) {
                for (int co = 0; co < g.cout(); co++) {
                    float b = bias[co];
                    int base = o + co * plane;
                    for (int i = 0; i < plane; i++) out[base + i] += b;
                }
            }
        });
    }

    /** dx[n] = fold(W^T x dout[n]). Overwrites dx. */
    public static void backwardData(CpuBackend be, ConvGeometry g, float[] dout, float[] weight, float[] dx) {
        int patch = g.patch(), plane = g.outPlane();
        be.parallelFor(g.n(), img -> {
            float[] dcol = new float[patch * plane];
            be.gemm().sgemm(true, false, patch, plane, g.cout(), weight, 0, dout, img * g.outImage(), dcol, 0, false);
            int xo = img * g.inImage();
            java.util.Arrays.fill(dx, xo, xo + g.inImage(), 0f);
            fold(g, dcol, dx, xo);
        });
    }

    /** dW = sum_n dout[n] x unfold(x[n])^T, db = sum over n and pixels of dout. Overwrites both. */
    public static void backwardWeight(CpuBackend be, ConvGeometry g, float[] x, float[] dout, float[] dweight, float[] dbias) {
        int patch = g.patch(), plane = g.outPlane(), wsize = g.cout() * patch;
        int chunks = (g.n() + WEIGHT_GRAD_CHUNK - 1) / WEIGHT_GRAD_CHUNK;
        float[][] partial = new float[chunks][];
        be.parallelFor(chunks, chunk -> {
            float[] acc = chunk == 0 ? dweight : new float[wsize];
            float[] col = new float[patch * plane];
            int from = chunk * WEIGHT_GRAD_CHUNK, to = Math.min(g.n(), from + WEIGHT_GRAD_CHUNK);
            for (int img = from; img < to; img++) {
                unfold(g, x, img * g.inImage(), col);
                be.gemm().sgemm(false, true, g.cout(), patch, plane, dout, img * g.outImage(), col, 0, acc, 0, img > from);
            }
            partial[chunk] = acc;
        });
        for (int c = 1; c < chunks; c++) {
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

    /** im2col: col[(c, ki, kj), (oy, ox)] = x[c, oy*sh - ph + ki, ox*sw - pw + kj], zero outside. */
    static float[] unfold(ConvGeometry g, float[] x, int xOff, float[] col) {
        int oh = g.oh(), ow = g.ow(), plane = oh * ow;
        int row = 0;
        for (int c = 0; c < g.cin(); c++) {
            int xc = xOff + c * g.h() * g.w();
            for (int ki = 0; ki < g.kh(); ki++) {
                for (int kj = 0; kj < g.kw(); kj++, row++) {
                    int base = row * plane;
                    for (int oy = 0; oy < oh; oy++) {
                        int iy = oy * g.sh() - g.ph() + ki;
                        int dst = base + oy * ow;
                        if (iy < 0 || iy >= g.h()) {
                            java.util.Arrays.fill(col, dst, dst + ow, 0f);
                            continue;
                        }
                        int src = xc + iy * g.w();
                        if (g.sw() == 1) {
                            int ix0 = kj - g.pw();
                            int lo = Math.max(0, -ix0), hi = Math.min(ow, g.w() - ix0);
                            if (lo > 0) java.util.Arrays.fill(col, dst, dst + lo, 0f);
                            if (hi > lo) System.arraycopy(x, src + ix0 + lo, col, dst + lo, hi - lo);
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
        return col;
    }

    /** col2im: the adjoint of unfold; adds every column entry back onto the pixel it came from. */
    static void fold(ConvGeometry g, float[] col, float[] dx, int dxOff) {
        int oh = g.oh(), ow = g.ow(), plane = oh * ow;
        int row = 0;
        for (int c = 0; c < g.cin(); c++) {
            int xc = dxOff + c * g.h() * g.w();
            for (int ki = 0; ki < g.kh(); ki++) {
                for (int kj = 0; kj < g.kw(); kj++, row++) {
                    int base = row * plane;
                    for (int oy = 0; oy < oh; oy++) {
                        int iy = oy * g.sh() - g.ph() + ki;
                        if (iy < 0 || iy >= g.h()) continue;
                        int dst = xc + iy * g.w(), src = base + oy * ow;
                        if (g.sw() == 1) {
                            int ix0 = kj - g.pw();
                            int lo = Math.max(0, -ix0), hi = Math.min(ow, g.w() - ix0);
                            for (int ox = lo; ox < hi; ox++) dx[dst + ix0 + ox] += col[src + ox];
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
