package dev.phalanx.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.reduce.SampleTree;

/**
 * The reproducible mode's linear rows (issue #13): every element is the plain sum in order
 * (bias, then each term {@code a[p] * b[p][j]} for p = 0, 1, ..., a multiply and an add), bit for
 * bit, whether its row goes through the four-row kernel or alone, on 1 or 2 threads, and whether
 * the copies of W are fresh, kept, or refilled after W changed.
 */
class SampleOrderedKernelsTest {

    /** The definition: y[r][j] = (((bias[j] + x[r][0] w[j][0]) + x[r][1] w[j][1]) + ...), W [out, in]. */
    private static float[] reference(int rows, int in, int out, float[] x, float[] w, float[] bias) {
        float[] y = new float[rows * out];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < out; j++) {
                float s = bias == null ? 0f : bias[j];
                for (int p = 0; p < in; p++) s = s + x[r * in + p] * w[j * in + p];
                y[r * out + j] = s;
            }
        }
        return y;
    }

    /** dx[r][i] = ((g[r][0] w[0][i] + g[r][1] w[1][i]) + ...), starting from 0. */
    private static float[] referenceData(int rows, int in, int out, float[] g, float[] w) {
        float[] dx = new float[rows * in];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < in; i++) {
                float s = 0f;
                for (int o = 0; o < out; o++) s = s + g[r * out + o] * w[o * in + i];
                dx[r * in + i] = s;
            }
        }
        return dx;
    }

    private static float[] random(SplittableRandom rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) rnd.nextGaussian();
        return a;
    }

    private static int[] bits(float[] a) {
        int[] b = new int[a.length];
        for (int i = 0; i < a.length; i++) b[i] = Float.floatToRawIntBits(a[i]);
        return b;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void rowsInGroupsOfFourAndAloneGiveTheSumInOrder(int threads) {
        SplittableRandom rnd = new SplittableRandom(7);
        int[][] shapes = {{400, 120}, {7, 5}, {3, 33}, {130, 84}, {1, 1}};
        try (CpuBackend be = CpuBackend.create(threads, CpuBackend.Kernels.JAVA)) {
            for (int[] s : shapes) {
                int in = s[0], out = s[1];
                for (int rows : new int[] {1, 3, 4, 5, 8, 9, 70}) {
                    float[] x = random(rnd, rows * in), w = random(rnd, out * in), bias = random(rnd, out), g = random(rnd, rows * out);
                    float[] y = new float[rows * out];
                    SampleOrderedKernels.linearForward(be, rows, in, out, x, w, SampleOrderedKernels.NO_WEIGHT_VERSION, bias, y);
                    String where = rows + " rows of " + in + " -> " + out + ", " + threads + " threads";
                    assertArrayEquals(bits(reference(rows, in, out, x, w, bias)), bits(y), "forward, " + where);
                    SampleOrderedKernels.linearForward(be, rows, in, out, x, w, SampleOrderedKernels.NO_WEIGHT_VERSION, null, y);
                    assertArrayEquals(bits(reference(rows, in, out, x, w, null)), bits(y), "forward without bias, " + where);
                    float[] dx = new float[rows * in];
                    SampleOrderedKernels.linearBackwardData(be, rows, in, out, g, w, SampleOrderedKernels.NO_WEIGHT_VERSION, dx);
                    assertArrayEquals(bits(referenceData(rows, in, out, g, w)), bits(dx), "backward-data, " + where);
                }
            }
            assertEquals(0, be.weightLayouts().size(), "copies of a weight without a version are kept nowhere");
        }
    }

    @Test
    void keptCopiesFollowTheWeightsVersion() {
        SplittableRandom rnd = new SplittableRandom(11);
        int rows = 6, in = 50, out = 20;
        float[] x = random(rnd, rows * in), w = random(rnd, out * in), g = random(rnd, rows * out);
        try (CpuBackend be = CpuBackend.create(1, CpuBackend.Kernels.JAVA)) {
            float[] y = new float[rows * out], dx = new float[rows * in];
            SampleOrderedKernels.linearForward(be, rows, in, out, x, w, 0, null, y);
            SampleOrderedKernels.linearBackwardData(be, rows, in, out, g, w, 0, dx);
            assertArrayEquals(bits(reference(rows, in, out, x, w, null)), bits(y));
            assertArrayEquals(bits(referenceData(rows, in, out, g, w)), bits(dx));
            assertEquals(1, be.weightLayouts().size(), "one weight: one set of copies, both layouts");

            // W changes in place, as an optimizer step writes it, and its version moves on: the copies are refilled
            for (int i = 0; i < w.length; i++) w[i] = w[i] * 0.5f - 0.25f;
            SampleOrderedKernels.linearForward(be, rows, in, out, x, w, 1, null, y);
            SampleOrderedKernels.linearBackwardData(be, rows, in, out, g, w, 1, dx);
            assertArrayEquals(bits(reference(rows, in, out, x, w, null)), bits(y), "forward after W changed");
            assertArrayEquals(bits(referenceData(rows, in, out, g, w)), bits(dx), "backward-data after W changed");
            assertEquals(1, be.weightLayouts().size());

            // another weight has copies of its own
            float[] w2 = random(rnd, out * in);
            SampleOrderedKernels.linearForward(be, rows, in, out, x, w2, 0, null, y);
            assertArrayEquals(bits(reference(rows, in, out, x, w2, null)), bits(y), "a second weight");
            assertEquals(2, be.weightLayouts().size());
        }
    }

    @Test
    void copiesAreReusedWhileTheVersionHoldsAndRefilledInPlaceAfter() {
        SplittableRandom rnd = new SplittableRandom(3);
        int out = 9, in = 13;
        float[] w = random(rnd, out * in);
        WeightLayouts layouts = new WeightLayouts();
        WeightLayouts.Copies c = layouts.take(w, out, in, 4);
        float[][] t = c.transposed(w, 4);
        for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) assertEquals(w[o * in + i], t[i][o]);
        layouts.give(w, 4, c);
        WeightLayouts.Copies again = layouts.take(w, out, in, 4);
        assertSame(c, again, "the copies kept for this weight");
        float before = w[0];
        w[0] = 42f;                                        // a write that did not bump the version is not seen: the contract
        assertEquals(before, again.transposed(w, 4)[0][0]);
        float[][] refilled = again.transposed(w, 5);
        assertSame(t, refilled, "refilled in place: no new arrays");
        assertEquals(42f, refilled[0][0]);
        assertNotSame(again, layouts.take(w, out, in, 5), "taken out while in use: a second user gets copies of its own");
        layouts.give(w, 5, again);
        assertNotSame(again, layouts.take(w, in, out, 5), "another shape over the same array: new copies");
    }

    /**
     * A linear weight gradient along the tree ({@link SampleOrderedKernels#linearWeight}: pairs of
     * samples, and up to two of the tree's levels above them, in one pass) against each row's
     * outer product fed whole to an {@link SampleTree.Accumulator}, the tree by definition: the
     * same bits for every piece of even and uneven shards, on 1 and 2 threads. Magnitudes
     * spread over many octaves, so that another grouping would show.
     */
    @ParameterizedTest
    @ValueSource(ints = {1, 2})
    void weightGradientsAreTheTreesBits(int threads) {
        SplittableRandom rnd = new SplittableRandom(5);
        try (CpuBackend be = CpuBackend.create(threads, CpuBackend.Kernels.JAVA)) {
            for (int[] shape : new int[][] {{400, 120}, {7, 5}, {33, 3}}) {
                int in = shape[0], out = shape[1];
                for (int batch : new int[] {1, 2, 7, 30, 64, 100}) {
                    float[] x = new float[batch * in], g = new float[batch * out];
                    for (int i = 0; i < x.length; i++) x[i] = (float) (rnd.nextGaussian() * Math.exp(rnd.nextDouble(-6, 6)));
                    for (int i = 0; i < g.length; i++) g[i] = (float) (rnd.nextGaussian() * Math.exp(rnd.nextDouble(-6, 6)));
                    int[][] cuts = {{0, batch}, {0, batch / 3, batch}, {0, 1, batch / 2 + 1, batch}};
                    for (int[] cut : cuts) {
                        for (int s = 0; s + 1 < cut.length; s++) {
                            int a = cut[s], b = cut[s + 1];
                            if (a == b) continue;
                            SampleTree.Accumulator acc = new SampleTree.Accumulator(a, b, batch, out * in);
                            float[] outer = new float[out * in];
                            for (int r = a; r < b; r++) {
                                for (int o = 0; o < out; o++) for (int i = 0; i < in; i++) outer[o * in + i] = g[r * out + o] * x[r * in + i];
                                acc.add(r, outer);
                            }
                            List<float[]> sums = SampleOrderedKernels.linearWeight(be, in, out,
                                    Arrays.copyOfRange(g, a * out, b * out), Arrays.copyOfRange(x, a * in, b * in), SampleTree.pieces(a, b, batch), a);
                            assertEquals(acc.sums().size(), sums.size());
                            for (int k = 0; k < sums.size(); k++) {
                                assertArrayEquals(bits(acc.sums().get(k)), bits(sums.get(k)),
                                        "piece " + acc.blocks().get(k) + " of rows " + a + ".." + b + " of " + batch + ", " + in + " -> " + out + ", " + threads + " threads");
                            }
                        }
                    }
                }
            }
        }
    }
}
