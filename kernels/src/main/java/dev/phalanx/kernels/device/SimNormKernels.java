package dev.phalanx.kernels.device;

import java.util.Map;

/**
 * The simulated device's twins of normalization.cu: batch norm's statistics, normalisation and
 * gradients, each channel's sums in double over the kernel's block of
 * {@link LaunchConfig#BATCH_NORM_THREADS} threads (each thread's strided partial sum, then the
 * block's fixed tree, as the kernel adds them), and dropout's counter-based mask. Java's float
 * arithmetic rounds each step, as the kernels' {@code __fmul_rn} / {@code __fadd_rn} do. Part of
 * {@link SimKernels#TWINS}.
 */
final class SimNormKernels {

    static final int THREADS = LaunchConfig.BATCH_NORM_THREADS;

    private SimNormKernels() { }

    static final Map<String, SimKernels.Twin> TWINS = Map.ofEntries(
            Map.entry("batch_norm_stats", (m, c, a) -> {
                checkBlock("batch_norm_stats", c);
                int n = a.int32(5), ch = a.int32(6), inner = a.int32(7);
                float eps = a.float32(8), momentum = a.float32(9);
                boolean update = a.int32(10) != 0;
                long count = (long) n * inner;
                float[] x = m.floats(a.buffer(0), count * ch), mean = new float[ch], invstd = new float[ch];
                float[] rm = update ? m.floats(a.buffer(3), ch) : null, rv = update ? m.floats(a.buffer(4), ch) : null;
                for (int k = 0; k < ch; k++) {
                    int channel = k;
                    float mk = (float) (blockSum(count, j -> x[index(j, channel, ch, inner)]) / count);
                    double sq = blockSum(count, j -> {
                        double d = x[index(j, channel, ch, inner)] - mk;
                        return d * d;
                    });
                    float v = (float) (sq / count);
                    mean[k] = mk;
                    invstd[k] = (float) (1.0 / Math.sqrt(v + eps));
                    if (update) {
                        float keep = 1f - momentum;
                        rm[k] = keep * rm[k] + momentum * mk;
                        rv[k] = keep * rv[k] + momentum * (float) (sq / (count - 1));
                    }
                }
                m.put(a.buffer(1), mean);
                m.put(a.buffer(2), invstd);
                if (update) {
                    m.put(a.buffer(3), rm);
                    m.put(a.buffer(4), rv);
                }
            }),
            Map.entry("batch_norm_eval_stats", (m, c, a) -> {
                int ch = a.int32(4);
                float eps = a.float32(5);
                float[] rm = m.floats(a.buffer(0), ch), rv = m.floats(a.buffer(1), ch), invstd = new float[ch];
                for (int k = 0; k < ch; k++) invstd[k] = (float) (1.0 / Math.sqrt(rv[k] + eps));
                m.put(a.buffer(2), rm);
                m.put(a.buffer(3), invstd);
            }),
            Map.entry("batch_norm_apply", (m, c, a) -> {
                boolean hasWeight = a.int32(6) != 0, hasBias = a.int32(7) != 0;
                long total = a.int64(8);
                int ch = a.int32(9), inner = a.int32(10);
                float[] x = m.floats(a.buffer(0), total), mean = m.floats(a.buffer(2), ch), invstd = m.floats(a.buffer(3), ch);
                float[] w = hasWeight ? m.floats(a.buffer(4), ch) : null, b = hasBias ? m.floats(a.buffer(5), ch) : null;
                float[] y = new float[(int) total];
                for (int i = 0; i < y.length; i++) {
                    int k = (i / inner) % ch;
                    float gamma = hasWeight ? w[k] : 1f, beta = hasBias ? b[k] : 0f;
                    y[i] = (x[i] - mean[k]) * invstd[k] * gamma + beta;
                }
                m.put(a.buffer(1), y);
            }),
            Map.entry("batch_norm_backward_reduce", (m, c, a) -> {
                checkBlock("batch_norm_backward_reduce", c);
                int n = a.int32(7), ch = a.int32(8), inner = a.int32(9);
                long count = (long) n * inner;
                float[] g = m.floats(a.buffer(0), count * ch), x = m.floats(a.buffer(1), count * ch);
                float[] mean = m.floats(a.buffer(2), ch), invstd = m.floats(a.buffer(3), ch), dw = new float[ch], db = new float[ch];
                double[] sums = new double[2 * ch];
                for (int k = 0; k < ch; k++) {
                    int channel = k;
                    sums[2 * k] = blockSum(count, j -> g[index(j, channel, ch, inner)]);
                    sums[2 * k + 1] = blockSum(count, j -> {
                        int i = index(j, channel, ch, inner);
                        return g[i] * (x[i] - mean[channel]) * invstd[channel];
                    });
                    db[k] = (float) sums[2 * k];
                    dw[k] = (float) sums[2 * k + 1];
                }
                m.putDoubles(a.buffer(4), sums);
                m.put(a.buffer(5), dw);
                m.put(a.buffer(6), db);
            }),
            Map.entry("batch_norm_backward_input", (m, c, a) -> {
                boolean hasWeight = a.int32(5) != 0;
                long total = a.int64(8), count = a.int64(11);
                int ch = a.int32(9), inner = a.int32(10);
                boolean training = a.int32(12) != 0;
                float[] g = m.floats(a.buffer(0), total), x = m.floats(a.buffer(1), total), mean = m.floats(a.buffer(2), ch);
                float[] invstd = m.floats(a.buffer(3), ch), w = hasWeight ? m.floats(a.buffer(4), ch) : null, dx = new float[(int) total];
                double[] sums = m.doubles(a.buffer(6), 2L * ch);
                for (int i = 0; i < dx.length; i++) {
                    int k = (i / inner) % ch;
                    float gi = (hasWeight ? w[k] : 1f) * invstd[k];
                    if (training) {
                        float xhat = (x[i] - mean[k]) * invstd[k];
                        double p = g[i] - sums[2 * k] / (double) count;
                        double q = xhat * sums[2 * k + 1];
                        dx[i] = (float) (gi * (p - q / (double) count));
                    } else {
                        dx[i] = gi * g[i];
                    }
                }
                m.put(a.buffer(7), dx);
            }),
            Map.entry("dropout_forward", (m, c, a) -> {
                long n = a.int64(3);
                long[] rng = m.longs(a.buffer(6), 2);
                long seed = rng[0], offset = rng[1];
                float p = a.float32(4), scale = a.float32(5);
                float[] x = m.floats(a.buffer(0), n), y = new float[(int) n];
                byte[] keep = new byte[(int) n];
                for (int i = 0; i < n; i++) {
                    boolean k = uniform(seed, offset + i) >= p;
                    keep[i] = (byte) (k ? 1 : 0);
                    y[i] = x[i] * (k ? scale : 0f);
                }
                m.put(a.buffer(1), y);
                m.putRawBytes(a.buffer(2), keep);
            }),
            Map.entry("rng_advance", (m, c, a) -> {
                long[] rng = m.longs(a.buffer(0), 2);
                rng[1] += a.int64(1);
                m.putLongs(a.buffer(0), rng);
            }),
            Map.entry("dropout_backward", (m, c, a) -> {
                long n = a.int64(3);
                float scale = a.float32(4);
                float[] g = m.floats(a.buffer(0), n), dx = new float[(int) n];
                byte[] keep = m.rawBytes(a.buffer(1), n);
                for (int i = 0; i < n; i++) dx[i] = g[i] * (keep[i] != 0 ? scale : 0f);
                m.put(a.buffer(2), dx);
            }));

    /** normalization.cu's dropout_uniform: SplitMix64 of counter i + 1 from the seed, its top 24 bits as a float in [0, 1) (i is offset + element). */
    static float uniform(long seed, long i) {
        long z = seed + (i + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z ^= z >>> 31;
        return (z >>> 40) * 0x1.0p-24f;
    }

    private static int index(long j, int channel, int c, int inner) {
        return (int) (((j / inner) * c + channel) * inner + j % inner);
    }

    private interface Term {
        double at(long j);
    }

    /** normalization.cu's per-channel sum: thread t adds terms t, t + THREADS, ... in order; then the block's tree. */
    private static double blockSum(long count, Term term) {
        double[] shared = new double[THREADS];
        for (int t = 0; t < THREADS; t++) {
            double s = 0;
            for (long j = t; j < count; j += THREADS) s += term.at(j);
            shared[t] = s;
        }
        for (int k = THREADS / 2; k > 0; k >>= 1) for (int t = 0; t < k; t++) shared[t] += shared[t + k];
        return shared[0];
    }

    private static void checkBlock(String kernel, LaunchConfig c) {
        if (c.blockX() != THREADS || c.blockY() != 1 || c.blockZ() != 1) {
            throw new IllegalArgumentException("kernel " + kernel + " must be launched with blocks of " + THREADS + " threads, got " + c);
        }
    }
}
