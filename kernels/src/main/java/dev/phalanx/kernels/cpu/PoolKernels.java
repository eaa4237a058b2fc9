package dev.phalanx.kernels.cpu;

/**
 * Max and average pooling over planes, forward and backward side by side. Average pooling runs
 * through oneDNN where the backend has it ({@link DnnlPool}); max pooling stays here (see there why).
 */
public final class PoolKernels {

    private PoolKernels() { }

    /**
     * Max over each window; padding never wins. {@code indices} gets PyTorch's
     * {@code return_indices} value: the flat index {@code y*w + x} within the input plane; null
     * when nobody needs them (no gradient is recorded, inference): the outputs are the same bits.
     */
    public static void maxForward(CpuBackend be, PoolGeometry g, float[] x, float[] out, int[] indices) {
        int oh = g.oh(), ow = g.ow(), in = g.h() * g.w(), op = oh * ow;
        if (g.kh() == 2 && g.kw() == 2 && g.sh() == 2 && g.sw() == 2 && g.ph() == 0 && g.pw() == 0) {
            if (indices == null) be.parallelFor(g.planes(), in, p -> max2x2(g, x, p * in, out, p * op));
            else be.parallelFor(g.planes(), in, p -> max2x2(g, x, p * in, out, indices, p * op));
            return;
        }
        be.parallelFor(g.planes(), (long) in * g.kh() * g.kw(), p -> {
            int xo = p * in, oo = p * op;
            for (int oy = 0; oy < oh; oy++) {
                int y0 = oy * g.sh() - g.ph(), y1 = Math.min(y0 + g.kh(), g.h());
                y0 = Math.max(y0, 0);
                for (int ox = 0; ox < ow; ox++) {
                    int x0 = ox * g.sw() - g.pw(), x1 = Math.min(x0 + g.kw(), g.w());
                    x0 = Math.max(x0, 0);
                    float best = Float.NEGATIVE_INFINITY;
                    int arg = y0 * g.w() + x0;
                    for (int y = y0; y < y1; y++) {
                        for (int xx = x0; xx < x1; xx++) {
                            float v = x[xo + y * g.w() + xx];
                            if (v > best || Float.isNaN(v)) {
                                best = v;
                                arg = y * g.w() + xx;
                                if (Float.isNaN(v)) { y = y1; break; }
                            }
                        }
                    }
                    out[oo + oy * ow + ox] = best;
                    if (indices != null) indices[oo + oy * ow + ox] = arg;
                }
            }
        });
    }

    /**
     * The common 2x2 window with stride 2, without branches on the data: which of four random
     * values is largest is unpredictable, and mispredicted branches made this loop a quarter of
     * a LeNet step. Comparisons become 0/1 integers that pick the index arithmetically, and the
     * output is the input at that index (no {@code Math.max}, whose NaN and signed-zero care
     * cost as much as the rest). The first maximum in row-major order wins, as in PyTorch, and
     * the output is the value there (so a -0 that wins a tie stays -0, as in PyTorch). NaN is
     * looked for once per output row, in a sum of the row's inputs: a row whose sum is NaN
     * (a NaN, or infinities of both signs) has its windows that hold NaN redone, the first NaN
     * winning. Measured 2x faster than per-window NaN tests and {@code Math.max}.
     */
    private static void max2x2(PoolGeometry g, float[] x, int xo, float[] out, int[] indices, int oo) {
        int w = g.w(), ow = g.ow();
        for (int oy = 0; oy < g.oh(); oy++) {
            int base = 2 * oy * w, r0 = xo + base, o = oo + oy * ow;
            float check = 0f;
            for (int ox = 0; ox < ow; ox++) {
                int i = r0 + 2 * ox;
                float a = x[i], b = x[i + 1], c = x[i + w], d = x[i + w + 1];
                check += (a + b) + (c + d);
                int upper = 2 * ox + (b > a ? 1 : 0), lower = 2 * ox + w + (d > c ? 1 : 0);
                int arg = x[r0 + lower] > x[r0 + upper] ? lower : upper;
                out[o + ox] = x[r0 + arg];
                indices[o + ox] = base + arg;
            }
            if (check != check) {
                for (int ox = 0; ox < ow; ox++) {
                    int i = r0 + 2 * ox;
                    if ((x[i] != x[i]) | (x[i + 1] != x[i + 1]) | (x[i + w] != x[i + w]) | (x[i + w + 1] != x[i + w + 1])) {
                        indices[o + ox] = nanWindow(x, xo, base + 2 * ox, w, out, o + ox);
                    }
                }
            }
        }
    }

    /**
     * {@link #max2x2(PoolGeometry, float[], int, float[], int[], int)} without the indices (no
     * gradient recorded): the same choice of input, by the same comparisons, so the same bits
     * (a -0 that wins a tie stays -0), with a quarter less memory written and no index array.
     */
    private static void max2x2(PoolGeometry g, float[] x, int xo, float[] out, int oo) {
        int w = g.w(), ow = g.ow();
        for (int oy = 0; oy < g.oh(); oy++) {
            int r0 = xo + 2 * oy * w, o = oo + oy * ow;
            float check = 0f;
            for (int ox = 0; ox < ow; ox++) {
                int i = r0 + 2 * ox;
                float a = x[i], b = x[i + 1], c = x[i + w], d = x[i + w + 1];
                check += (a + b) + (c + d);
                int upper = 2 * ox + (b > a ? 1 : 0), lower = 2 * ox + w + (d > c ? 1 : 0);
                int arg = x[r0 + lower] > x[r0 + upper] ? lower : upper; // an int select, as above: C2 keeps it branch-free
                out[o + ox] = x[r0 + arg];
            }
            if (check != check) {
                for (int ox = 0; ox < ow; ox++) {
                    int i = r0 + 2 * ox;
                    if ((x[i] != x[i]) | (x[i + 1] != x[i + 1]) | (x[i + w] != x[i + w]) | (x[i + w + 1] != x[i + w + 1])) {
                        nanWindow(x, xo, i - xo, w, out, o + ox);
                    }
                }
            }
        }
    }

    /** A 2x2 window holding NaN: the first NaN wins, as in PyTorch. Writes the value to {@code out[o]}, returns its index. */
    private static int nanWindow(float[] x, int xo, int i0, int w, float[] out, int o) {
        int[] cand = {i0, i0 + 1, i0 + w, i0 + w + 1};
        float best = x[xo + i0];
        int arg = i0;
        for (int k = 1; k < 4 && best == best; k++) {
            float v = x[xo + cand[k]];
            if (v > best || v != v) {
                best = v;
                arg = cand[k];
            }
        }
        out[o] = best;
        return arg;
    }

    /** dx[argmax] += dout; overlapping windows add up. Overwrites dx. */
    public static void maxBackward(CpuBackend be, PoolGeometry g, float[] dout, int[] indices, float[] dx) {
        int in = g.h() * g.w(), op = g.oh() * g.ow();
        be.parallelFor(g.planes(), (long) in * g.kh() * g.kw(), p -> {
            int xo = p * in, oo = p * op;
            java.util.Arrays.fill(dx, xo, xo + in, 0f);
            for (int i = 0; i < op; i++) dx[xo + indices[oo + i]] += dout[oo + i];
        });
    }

    /**
     * Average over each window, counting padded cells (PyTorch's count_include_pad=True): the
     * divisor is the window clipped to the padded input.
     */
    public static void avgForward(CpuBackend be, PoolGeometry g, float[] x, float[] out) {
        if (be.dnnlPool() != null && g.planes() > 0) {
            be.dnnlPool().avgForward(g, x, out);
            return;
        }
        int oh = g.oh(), ow = g.ow(), in = g.h() * g.w(), op = oh * ow;
        be.parallelFor(g.planes(), (long) in * g.kh() * g.kw(), p -> {
            int xo = p * in, oo = p * op;
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    Window win = window(g, oy, ox);
                    float s = 0f;
                    for (int y = win.y0; y < win.y1; y++)
                        for (int xx = win.x0; xx < win.x1; xx++) s += x[xo + y * g.w() + xx];
                    out[oo + oy * ow + ox] = s / win.divisor;
                }
            }
        });
    }

    public static void avgBackward(CpuBackend be, PoolGeometry g, float[] dout, float[] dx) {
        if (be.dnnlPool() != null && g.planes() > 0) {
            be.dnnlPool().avgBackward(g, dout, dx);
            return;
        }
        int oh = g.oh(), ow = g.ow(), in = g.h() * g.w(), op = oh * ow;
        be.parallelFor(g.planes(), (long) in * g.kh() * g.kw(), p -> {
            int xo = p * in, oo = p * op;
            java.util.Arrays.fill(dx, xo, xo + in, 0f);
            for (int oy = 0; oy < oh; oy++) {
                for (int ox = 0; ox < ow; ox++) {
                    Window win = window(g, oy, ox);
                    float d = dout[oo + oy * ow + ox] / win.divisor;
                    for (int y = win.y0; y < win.y1; y++)
                        for (int xx = win.x0; xx < win.x1; xx++) dx[xo + y * g.w() + xx] += d;
                }
            }
        });
    }

    private record Window(int y0, int y1, int x0, int x1, int divisor) { }

    private static Window window(PoolGeometry g, int oy, int ox) {
        int y0 = oy * g.sh() - g.ph(), x0 = ox * g.sw() - g.pw();
        int y1 = Math.min(y0 + g.kh(), g.h() + g.ph()), x1 = Math.min(x0 + g.kw(), g.w() + g.pw());
        int divisor = (y1 - y0) * (x1 - x0);
        return new Window(Math.max(y0, 0), Math.min(y1, g.h()), Math.max(x0, 0), Math.min(x1, g.w()), divisor);
    }

    /** Adaptive average pooling: window i spans [floor(i*H/OH), ceil((i+1)*H/OH)). */
    public static void adaptiveAvgForward(CpuBackend be, int planes, int h, int w, int oh, int ow, float[] x, float[] out) {
        be.parallelFor(planes, (long) h * w * 2, p -> {
            for (int oy = 0; oy < oh; oy++) {
                int y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
                for (int ox = 0; ox < ow; ox++) {
                    int x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
                    float s = 0f;
                    for (int y = y0; y < y1; y++)
                        for (int xx = x0; xx < x1; xx++) s += x[p * h * w + y * w + xx];
                    out[p * oh * ow + oy * ow + ox] = s / ((y1 - y0) * (x1 - x0));
                }
            }
        });
    }

    public static void adaptiveAvgBackward(CpuBackend be, int planes, int h, int w, int oh, int ow, float[] dout, float[] dx) {
        be.parallelFor(planes, (long) h * w * 2, p -> {
            java.util.Arrays.fill(dx, p * h * w, (p + 1) * h * w, 0f);
            for (int oy = 0; oy < oh; oy++) {
                int y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
                for (int ox = 0; ox < ow; ox++) {
                    int x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
                    float d = dout[p * oh * ow + oy * ow + ox] / ((y1 - y0) * (x1 - x0));
                    for (int y = y0; y < y1; y++)
                        for (int xx = x0; xx < x1; xx++) dx[p * h * w + y * w + xx] += d;
                }
            }
        });
    }
}
