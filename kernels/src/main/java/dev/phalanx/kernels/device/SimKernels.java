package dev.phalanx.kernels.device;

import java.util.Map;

import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.kernels.cpu.PoolGeometry;
import dev.phalanx.kernels.cpu.PoolKernels;

/**
 * The simulated device's twin of every kernel in the {@code .cu} sources: the same arithmetic in
 * Java (pooling through the CPU kernels), reading and writing the simulated device's memory. A
 * twin also checks the launch contract its CUDA kernel relies on (block size, grid size), so a
 * launch the GPU would get wrong fails here first. {@code SimKernelsTest} checks that every
 * kernel has a twin.
 */
final class SimKernels {

    /** Access to the simulated memory, for the twins. */
    interface Memory {
        float[] floats(DeviceBuffer b, long count);

        void put(DeviceBuffer b, float[] values);

        long[] longs(DeviceBuffer b, long count);

        int[] ints(DeviceBuffer b, long count);

        void putInts(DeviceBuffer b, int[] values);

        void putLongs(DeviceBuffer b, long[] values);

        /** The first {@code count} bytes of a range, for the kernels of any element type. */
        byte[] rawBytes(DeviceBuffer b, long count);

        void putRawBytes(DeviceBuffer b, byte[] values);

        double[] doubles(DeviceBuffer b, long count);

        void putDoubles(DeviceBuffer b, double[] values);
    }

    interface Twin {
        void run(Memory mem, LaunchConfig cfg, KernelArgs a);
    }

    static final int CE_THREADS = LaunchConfig.CROSS_ENTROPY_THREADS;
    static final int SUM_THREADS = LaunchConfig.SUM_THREADS;

    private SimKernels() { }

    /**
     * Every twin: the layer kernels' below, {@link SimMathKernels}' (softmax, MSE, elementwise math), {@link SimTensorKernels}'
     * (dtypes, comparisons, strided copies, integer sums, max and min), {@link SimNormKernels}' (batch norm, dropout) and
     * {@link SimArithKernels}' (the arithmetic of other dtypes, float64 sums).
     */
    static final Map<String, Twin> TWINS = merge(merge(merge(merge(Map.ofEntries(
            Map.entry("add_f32", (m, c, a) -> binary(m, a, (x, y) -> x + y)),
            Map.entry("mul_f32", (m, c, a) -> binary(m, a, (x, y) -> x * y)),
            Map.entry("scale_f32", (m, c, a) -> {
                long n = a.int64(2);
                float[] x = m.floats(a.buffer(0), n);
                float s = a.float32(1);
                for (int i = 0; i < n; i++) x[i] *= s;
                m.put(a.buffer(0), x);
            }),
            Map.entry("scale_by_f32", (m, c, a) -> {
                long n = a.int64(2);
                float[] x = m.floats(a.buffer(0), n);
                float s = m.floats(a.buffer(1), 1)[0];
                for (int i = 0; i < n; i++) x[i] *= s;
                m.put(a.buffer(0), x);
            }),
            Map.entry("fill_f32", (m, c, a) -> {
                float[] x = new float[(int) a.int64(2)];
                java.util.Arrays.fill(x, a.float32(1));
                m.put(a.buffer(0), x);
            }),
            Map.entry("relu_forward", (m, c, a) -> {
                long n = a.int64(2);
                float[] x = m.floats(a.buffer(0), n);
                for (int i = 0; i < n; i++) x[i] = Math.max(x[i], 0f);
                m.put(a.buffer(1), x);
            }),
            Map.entry("relu_backward", (m, c, a) -> {
                long n = a.int64(3);
                float[] y = m.floats(a.buffer(0), n), g = m.floats(a.buffer(1), n);
                for (int i = 0; i < n; i++) g[i] = y[i] > 0f ? g[i] : 0f;
                m.put(a.buffer(2), g);
            }),
            Map.entry("add_bias_rows", (m, c, a) -> {
                long rows = a.int64(2);
                int cols = a.int32(3);
                float[] x = m.floats(a.buffer(0), rows * cols), b = m.floats(a.buffer(1), cols);
                for (int i = 0; i < x.length; i++) x[i] += b[i % cols];
                m.put(a.buffer(0), x);
            }),
            Map.entry("axpy_f32", (m, c, a) -> {
                long n = a.int64(3);
                float[] x = m.floats(a.buffer(0), n), y = m.floats(a.buffer(1), n);
                float s = a.float32(2);
                for (int i = 0; i < n; i++) y[i] += s * x[i];
                m.put(a.buffer(1), y);
            }),
            Map.entry("add_bias_nchw", (m, c, a) -> {
                long total = a.int64(2);
                int channels = a.int32(3), plane = a.int32(4);
                float[] x = m.floats(a.buffer(0), total), b = m.floats(a.buffer(1), channels);
                for (int i = 0; i < total; i++) x[i] += b[(i / plane) % channels];
                m.put(a.buffer(0), x);
            }),
            Map.entry("cross_entropy_forward", SimKernels::crossEntropyForward),
            Map.entry("cross_entropy_backward", (m, c, a) -> {
                int n = a.int32(3), k = a.int32(4);
                float scale = a.float32(5);
                float[] lp = m.floats(a.buffer(0), (long) n * k);
                long[] t = m.longs(a.buffer(1), n);
                float[] d = new float[n * k];
                for (int i = 0; i < d.length; i++) {
                    float g = (float) Math.exp(lp[i]);
                    if (i % k == t[i / k]) g -= 1f;
                    d[i] = g * scale;
                }
                m.put(a.buffer(2), d);
            }),
            Map.entry("step_count_increment", (m, c, a) -> m.put(a.buffer(0), new float[] {m.floats(a.buffer(0), 1)[0] + 1f})),
            Map.entry("sgd_step", (m, c, a) -> {
                long n = a.int64(3);
                float lr = m.floats(a.buffer(4), 1)[0], momentum = a.float32(5), dampening = a.float32(6), wd = a.float32(7);
                boolean nesterov = a.int32(8) != 0, first = a.int32(9) != 0;
                float[] p = m.floats(a.buffer(0), n), g = m.floats(a.buffer(1), n);
                float[] buf = momentum != 0f ? m.floats(a.buffer(2), n) : null;
                for (int i = 0; i < n; i++) {
                    float d = g[i] + wd * p[i];
                    if (momentum != 0f) {
                        float b = first ? d : momentum * buf[i] + (1f - dampening) * d;
                        buf[i] = b;
                        d = nesterov ? d + momentum * b : b;
                    }
                    p[i] -= lr * d;
                }
                m.put(a.buffer(0), p);
                if (buf != null) m.put(a.buffer(2), buf);
            }),
            Map.entry("adam_step", (m, c, a) -> {
                long n = a.int64(4);
                float lr = m.floats(a.buffer(5), 1)[0], b1 = a.float32(7), b2 = a.float32(8), eps = a.float32(9), wd = a.float32(10);
                double t = m.floats(a.buffer(6), 1)[0];
                // the CPU rule's bias corrections (Adam.update: StrictMath.pow, the division and sqrt in double)
                double bias1 = 1 - StrictMath.pow(b1, t), bias2 = 1 - StrictMath.pow(b2, t);
                float stepSize = (float) (lr / bias1), bias2Sqrt = (float) Math.sqrt(bias2);
                boolean decoupled = a.int32(11) != 0;
                float[] p = m.floats(a.buffer(0), n), g = m.floats(a.buffer(1), n), mm = m.floats(a.buffer(2), n), v = m.floats(a.buffer(3), n);
                for (int i = 0; i < n; i++) {
                    float pi = p[i], gi = g[i];
                    if (decoupled) pi *= 1f - lr * wd;
                    else gi += wd * pi;
                    float mi = mm[i] * b1 + (1f - b1) * gi;
                    float vi = v[i] * b2 + (1f - b2) * gi * gi;
                    mm[i] = mi;
                    v[i] = vi;
                    p[i] = pi - stepSize * (mi / ((float) Math.sqrt(vi) / bias2Sqrt + eps));
                }
                m.put(a.buffer(0), p);
                m.put(a.buffer(2), mm);
                m.put(a.buffer(3), v);
            }),
            Map.entry("rmsprop_step", (m, c, a) -> {
                long n = a.int64(5);
                float lr = m.floats(a.buffer(6), 1)[0], alpha = a.float32(7), eps = a.float32(8), wd = a.float32(9), momentum = a.float32(10);
                boolean centered = a.int32(11) != 0;
                float[] p = m.floats(a.buffer(0), n), g = m.floats(a.buffer(1), n), v = m.floats(a.buffer(2), n);
                float[] buf = momentum > 0f ? m.floats(a.buffer(3), n) : null, gAvg = centered ? m.floats(a.buffer(4), n) : null;
                for (int i = 0; i < n; i++) {
                    float gi = g[i] + wd * p[i];
                    float vi = v[i] * alpha + (1f - alpha) * gi * gi;
                    v[i] = vi;
                    float avg;
                    if (centered) {
                        float ga = gAvg[i] * alpha + (1f - alpha) * gi;
                        gAvg[i] = ga;
                        avg = (float) Math.sqrt(vi - ga * ga) + eps;
                    } else {
                        avg = (float) Math.sqrt(vi) + eps;
                    }
                    if (momentum > 0f) {
                        float b = buf[i] * momentum + gi / avg;
                        buf[i] = b;
                        p[i] -= lr * b;
                    } else {
                        p[i] -= lr * (gi / avg);
                    }
                }
                m.put(a.buffer(0), p);
                m.put(a.buffer(2), v);
                if (buf != null) m.put(a.buffer(3), buf);
                if (gAvg != null) m.put(a.buffer(4), gAvg);
            }),
            Map.entry("argmax_rows", (m, c, a) -> {
                int n = a.int32(2), k = a.int32(3);
                float[] x = m.floats(a.buffer(0), (long) n * k);
                long[] idx = new long[n];
                for (int r = 0; r < n; r++) {
                    int best = 0;
                    float bv = x[r * k];
                    for (int j = 1; j < k; j++) {
                        float v = x[r * k + j];
                        if (v > bv || (Float.isNaN(v) && !Float.isNaN(bv))) {
                            bv = v;
                            best = j;
                        }
                    }
                    idx[r] = best;
                }
                m.putLongs(a.buffer(1), idx);
            }),
            Map.entry("sum_columns", (m, c, a) -> {
                int rows = a.int32(2), cols = a.int32(3);
                float[] x = m.floats(a.buffer(0), (long) rows * cols), out = new float[cols];
                for (int j = 0; j < cols; j++) {
                    float s = 0f;
                    for (int r = 0; r < rows; r++) s += x[r * cols + j];
                    out[j] = s;
                }
                m.put(a.buffer(1), out);
            }),
            Map.entry("bias_grad_nchw", (m, c, a) -> {
                int images = a.int32(2), channels = a.int32(3), plane = a.int32(4);
                float[] dy = m.floats(a.buffer(0), (long) images * channels * plane), db = new float[channels];
                for (int ch = 0; ch < channels; ch++) {
                    float total = 0f;
                    for (int img = 0; img < images; img++) {
                        float s = 0f;
                        int base = (img * channels + ch) * plane;
                        for (int i = 0; i < plane; i++) s += dy[base + i];
                        total += s;
                    }
                    db[ch] = total;
                }
                m.put(a.buffer(1), db);
            }),
            Map.entry("sum_all", (m, c, a) -> {
                if (c.gridX() * c.gridY() * c.gridZ() != 1 || c.blockX() != SUM_THREADS) {
                    throw new IllegalArgumentException("kernel sum_all must be launched as one block of " + SUM_THREADS + " threads, got " + c);
                }
                long n = a.int64(2);
                float[] x = m.floats(a.buffer(0), n);
                float s = 0f;
                for (float v : x) s += v;
                m.put(a.buffer(1), new float[] {s});
            }),
            Map.entry("max_pool2d_forward", (m, c, a) -> {
                PoolGeometry g = pool(a);
                int planes = a.int32(3), oh = a.int32(6), ow = a.int32(7);
                checkPoolShape(g, oh, ow);
                float[] x = m.floats(a.buffer(0), (long) planes * g.h() * g.w());
                float[] y = new float[planes * oh * ow];
                int[] idx = new int[y.length];
                PoolKernels.maxForward(CpuBackend.serial(), g, x, y, idx);
                m.put(a.buffer(1), y);
                m.putInts(a.buffer(2), idx);
            }),
            Map.entry("max_pool2d_backward", (m, c, a) -> {
                PoolGeometry g = pool(a);
                int planes = a.int32(3), oh = a.int32(6), ow = a.int32(7);
                checkPoolShape(g, oh, ow);
                float[] dy = m.floats(a.buffer(0), (long) planes * oh * ow);
                int[] idx = m.ints(a.buffer(1), (long) planes * oh * ow);
                float[] dx = new float[planes * g.h() * g.w()];
                PoolKernels.maxBackward(CpuBackend.serial(), g, dy, idx, dx);
                m.put(a.buffer(2), dx);
            })), SimMathKernels.TWINS), SimTensorKernels.TWINS), SimNormKernels.TWINS), SimArithKernels.TWINS);

    private static Map<String, Twin> merge(Map<String, Twin> a, Map<String, Twin> b) {
        java.util.HashMap<String, Twin> all = new java.util.HashMap<>(a);
        for (var e : b.entrySet()) {
            if (all.put(e.getKey(), e.getValue()) != null) throw new IllegalStateException("two twins of kernel " + e.getKey());
        }
        return Map.copyOf(all);
    }

    private interface FloatOp {
        float apply(float x, float y);
    }

    private static void binary(Memory m, KernelArgs a, FloatOp op) {
        long n = a.int64(3);
        float[] x = m.floats(a.buffer(0), n), y = m.floats(a.buffer(1), n);
        for (int i = 0; i < n; i++) x[i] = op.apply(x[i], y[i]);
        m.put(a.buffer(2), x);
    }

    private static PoolGeometry pool(KernelArgs a) {
        return new PoolGeometry(a.int32(3), a.int32(4), a.int32(5), a.int32(8), a.int32(9), a.int32(10), a.int32(11), a.int32(12), a.int32(13));
    }

    private static void checkPoolShape(PoolGeometry g, int oh, int ow) {
        if (g.oh() != oh || g.ow() != ow) {
            throw new IllegalArgumentException("max_pool2d: output " + oh + "x" + ow + " does not match the geometry's " + g.oh() + "x" + g.ow());
        }
    }

    private static void crossEntropyForward(Memory m, LaunchConfig cfg, KernelArgs a) {
        int n = a.int32(4), c = a.int32(5);
        if (cfg.blockX() != CE_THREADS || cfg.gridX() < n) {
            throw new IllegalArgumentException("kernel cross_entropy_forward needs " + n + " blocks of " + CE_THREADS + " threads, got " + cfg);
        }
        float[] logits = m.floats(a.buffer(0), (long) n * c);
        long[] target = m.longs(a.buffer(1), n);
        float[] lp = new float[n * c], loss = new float[n];
        for (int r = 0; r < n; r++) {
            float max = Float.NEGATIVE_INFINITY;
            for (int k = 0; k < c; k++) max = Math.max(max, logits[r * c + k]);
            float sum = 0f;
            for (int k = 0; k < c; k++) sum += (float) Math.exp(logits[r * c + k] - max);
            float lse = max + (float) Math.log(sum);
            for (int k = 0; k < c; k++) lp[r * c + k] = logits[r * c + k] - lse;
            long t = target[r];
            loss[r] = t >= 0 && t < c ? lse - logits[(int) (r * c + t)] : Float.NaN;
        }
        m.put(a.buffer(2), lp);
        m.put(a.buffer(3), loss);
    }
}
