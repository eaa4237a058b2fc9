package dev.phalanx.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The reproducible mode's linear rows through OpenBLAS (issue #13): calls of a fixed number of
 * rows, global row i always in slot {@code i % slots}. That a row's bits then depend on its own
 * values and slot only is an assumption about OpenBLAS (its kernels and blocking follow the
 * shape, and no sum runs across rows), checked here for the kernels OpenBLAS picks on this
 * machine: first on the GEMM call itself (one row's bits whatever the other rows hold: random,
 * zeros, huge, tiny), then through the kernels for every cut of a batch, even and uneven, on 1
 * and 2 threads. Skipped where OpenBLAS does not load (the pure-Java rows are
 * {@link SampleOrderedKernelsTest}'s).
 */
class SampleOrderedLinearTest {

    /** LeNet's linear layers (forward: n = out, k = in, W stored [n, k]; backward-data: n = in, k = out) and odd shapes. */
    private static final int[][] SHAPES = {{400, 120}, {120, 84}, {84, 10}, {7, 5}, {130, 33}, {1, 1}};

    /**
     * Shard bounds over a batch of 30 (calls of 16 rows) and of 150 (calls of 64): one shard,
     * slot-aligned, torch.chunk-like, uneven, and empty shards.
     */
    private static final int[][][] CUTS = {
            {{0, 30}, {0, 16, 30}, {0, 10, 20, 30}, {0, 1, 2, 13, 13, 29, 30}, {0, 7, 9, 30}, {0, 4, 8, 12, 16, 20, 24, 28, 30}},
            {{0, 150}, {0, 64, 128, 150}, {0, 50, 100, 150}, {0, 1, 63, 63, 65, 149, 150}}};

    private static void assumeOpenBlas(CpuBackend be) {
        assumeTrue(be.gemm() instanceof OpenBlasGemm, "OpenBLAS did not load: " + be.describe());
    }

    private static float[] random(SplittableRandom rnd, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) (rnd.nextGaussian() * scale);
        return a;
    }

    private static int[] bits(float[] a, int from, int to) {
        int[] b = new int[to - from];
        for (int i = from; i < to; i++) b[i - from] = Float.floatToRawIntBits(a[i]);
        return b;
    }

    /** The claim itself, on OpenBLAS's GEMM: row s of a call of m rows has the same bits whatever the other m - 1 rows hold. */
    @Test
    void aRowsBitsDoNotDependOnTheOtherRowsOfTheCall() {
        try (CpuBackend be = CpuBackend.create(1, CpuBackend.Kernels.AUTO)) {
            assumeOpenBlas(be);
            SplittableRandom rnd = new SplittableRandom(17);
            for (int[] shape : SHAPES) {
                for (boolean transB : new boolean[] {true, false}) {
                    int n = transB ? shape[1] : shape[0], k = transB ? shape[0] : shape[1];
                    float[] b = random(rnd, n * k, 1);
                    for (int m : new int[] {1, 2, 4, 8, 16, 32, 64}) {
                        float[] a = random(rnd, m * k, 1);
                        float[] want = new float[m * n];
                        be.gemm().sgemm(false, transB, m, n, k, a, 0, b, 0, want, 0, false);
                        // the other rows: zeros, fresh random values, huge and tiny ones
                        for (double otherScale : new double[] {0, 1, 1e30, 1e-30}) {
                            for (int s = 0; s < m; s++) {
                                float[] other = random(rnd, m * k, otherScale);
                                System.arraycopy(a, s * k, other, s * k, k);
                                float[] got = new float[m * n];
                                be.gemm().sgemm(false, transB, m, n, k, other, 0, b, 0, got, 0, false);
                                assertArrayEquals(bits(want, s * n, (s + 1) * n), bits(got, s * n, (s + 1) * n),
                                        "row " + s + " of " + m + ", n " + n + ", k " + k + (transB ? ", B transposed" : "")
                                                + ", other rows at scale " + otherScale);
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void everyCutGivesEachRowTheBitsOfTheWholeBatch(int threads) {
        try (CpuBackend be = CpuBackend.create(threads, CpuBackend.Kernels.AUTO)) {
            assumeOpenBlas(be);
            SplittableRandom rnd = new SplittableRandom(29);
            for (int[][] cuts : CUTS) for (int[] shape : SHAPES) {
                int batch = cuts[0][1];
                int in = shape[0], out = shape[1];
                float[] x = random(rnd, batch * in, 1), w = random(rnd, out * in, 1), bias = random(rnd, out, 1), g = random(rnd, batch * out, 1);
                float[] wantY = new float[batch * out], wantDx = new float[batch * in];
                SampleOrderedKernels.linearForward(be, batch, in, out, x, w, SampleOrderedKernels.NO_WEIGHT_VERSION, bias, wantY, 0, batch);
                SampleOrderedKernels.linearBackwardData(be, batch, in, out, g, w, SampleOrderedKernels.NO_WEIGHT_VERSION, wantDx, 0, batch);
                for (int[] cut : cuts) {
                    float[] y = new float[wantY.length], dx = new float[wantDx.length];
                    for (int s = 0; s + 1 < cut.length; s++) {
                        int a = cut[s], rows = cut[s + 1] - a;
                        float[] shardY = new float[rows * out], shardDx = new float[rows * in];
                        SampleOrderedKernels.linearForward(be, rows, in, out, Arrays.copyOfRange(x, a * in, (a + rows) * in), w,
                                SampleOrderedKernels.NO_WEIGHT_VERSION, bias, shardY, a, batch);
                        SampleOrderedKernels.linearBackwardData(be, rows, in, out, Arrays.copyOfRange(g, a * out, (a + rows) * out), w,
                                SampleOrderedKernels.NO_WEIGHT_VERSION, shardDx, a, batch);
                        System.arraycopy(shardY, 0, y, a * out, shardY.length);
                        System.arraycopy(shardDx, 0, dx, a * in, shardDx.length);
                    }
                    String where = in + " -> " + out + " cut at " + Arrays.toString(cut) + ", " + threads + " threads";
                    assertArrayEquals(bits(wantY, 0, wantY.length), bits(y, 0, y.length), "forward, " + where);
                    assertArrayEquals(bits(wantDx, 0, wantDx.length), bits(dx, 0, dx.length), "backward-data, " + where);
                }
                // and the values are the layer's (the plain product, within float rounding)
                for (int r = 0; r < batch; r++) {
                    for (int j = 0; j < out; j++) {
                        double s = bias[j], mag = Math.abs(bias[j]);
                        for (int p = 0; p < in; p++) {
                            s += (double) x[r * in + p] * w[j * in + p];
                            mag += Math.abs((double) x[r * in + p] * w[j * in + p]);
                        }
                        assertEquals(s, wantY[r * out + j], 1e-6 * mag + 1e-30, "forward value, row " + r + ", column " + j);
                    }
                }
            }
        }
    }

    @Test
    void slotsFollowTheGlobalBatch() {
        assertEquals(1, SampleOrderedKernels.linearSlots(1));
        assertEquals(4, SampleOrderedKernels.linearSlots(4));
        assertEquals(16, SampleOrderedKernels.linearSlots(30));
        assertEquals(64, SampleOrderedKernels.linearSlots(256));
        assertEquals(64, SampleOrderedKernels.linearSlots(64));
    }
}
