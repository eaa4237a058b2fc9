package dev.phalanx.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;

import org.junit.jupiter.api.Test;

/** The 2x2 fast path against the general window loop, ties and NaN included. */
class PoolKernelsTest {

    private static void general(PoolGeometry g, float[] x, float[] out, int[] idx) {
        int oh = g.oh(), ow = g.ow();
        for (int p = 0; p < g.planes(); p++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++) {
                    float best = Float.NEGATIVE_INFINITY;
                    int arg = -1;
                    for (int y = oy * 2; y < oy * 2 + 2; y++)
                        for (int xx = ox * 2; xx < ox * 2 + 2; xx++) {
                            float v = x[p * g.h() * g.w() + y * g.w() + xx];
                            if (arg < 0 || (v > best && best == best) || (v != v && best == best)) {
                                best = v;
                                arg = y * g.w() + xx;
                            }
                        }
                    out[p * oh * ow + oy * ow + ox] = best;
                    idx[p * oh * ow + oy * ow + ox] = arg;
                }
    }

    @Test
    void twoByTwoMatchesTheGeneralLoop() {
        PoolGeometry g = new PoolGeometry(5, 8, 6, 2, 2, 2, 2, 0, 0);
        Random r = new Random(3);
        float[] x = new float[5 * 8 * 6];
        for (int i = 0; i < x.length; i++) x[i] = r.nextInt(4) - 2; // many ties
        x[7] = Float.NaN;
        x[50] = Float.NaN;
        x[51] = Float.NaN;
        float[] out = new float[5 * 4 * 3], want = new float[out.length];
        int[] idx = new int[out.length], wantIdx = new int[out.length];
        try (CpuBackend be = CpuBackend.create(2)) {
            PoolKernels.maxForward(be, g, x, out, idx);
        }
        general(g, x, want, wantIdx);
        assertArrayEquals(wantIdx, idx);
        for (int i = 0; i < out.length; i++) assertEquals(Float.floatToIntBits(want[i]) == Float.floatToIntBits(Float.NaN), Float.isNaN(out[i]), "at " + i);
        for (int i = 0; i < out.length; i++) if (!Float.isNaN(want[i])) assertEquals(want[i], out[i], 0f);
        assertTrue(Float.isNaN(out[0]), "NaN propagates: x[7] is in the first window");
    }

    /**
     * Signed zeros, infinities of both signs in one row (their sum is NaN, so the row is looked
     * at again, finding no NaN), an odd input size (the last row and column in no window), and
     * NaN next to infinities: indices as the general loop, and each output the input at its index.
     */
    @Test
    void twoByTwoKeepsTheWinnersBitsAndSurvivesInfinities() {
        PoolGeometry g = new PoolGeometry(3, 7, 9, 2, 2, 2, 2, 0, 0);
        Random r = new Random(5);
        float[] x = new float[3 * 7 * 9];
        float[] special = {-0f, 0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1f, -1f};
        for (int i = 0; i < x.length; i++) x[i] = special[r.nextInt(special.length)];
        x[0] = -0f; x[1] = 0f; x[9] = -0f; x[10] = 0f; // the first window: a tie of zeros, the first (-0) wins
        x[70] = Float.NaN;
        float[] out = new float[3 * 3 * 4], want = new float[out.length];
        int[] idx = new int[out.length], wantIdx = new int[out.length];
        try (CpuBackend be = CpuBackend.create(1)) {
            PoolKernels.maxForward(be, g, x, out, idx);
        }
        general(g, x, want, wantIdx);
        assertArrayEquals(wantIdx, idx);
        for (int p = 0, o = 0; p < 3; p++) {
            for (int i = 0; i < 12; i++, o++) {
                assertEquals(Float.floatToIntBits(x[p * 63 + idx[o]]), Float.floatToIntBits(out[o]), "output " + o + " is its input");
            }
        }
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(out[0]), "-0 wins the tie, as in PyTorch");
    }

    /**
     * Without indices (nothing records a gradient) the outputs are the same bits as with them,
     * on the 2x2 kernel and the general one, with ties, signed zeros, infinities and NaN.
     */
    @Test
    void outputsWithoutIndicesAreTheSameBits() {
        Random r = new Random(9);
        float[] special = {-0f, 0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 1f, -1f, 2f, Float.NaN};
        for (PoolGeometry g : new PoolGeometry[] {new PoolGeometry(4, 9, 8, 2, 2, 2, 2, 0, 0), new PoolGeometry(4, 9, 8, 3, 2, 2, 1, 1, 0)}) {
            float[] x = new float[g.planes() * g.h() * g.w()];
            for (int i = 0; i < x.length; i++) x[i] = r.nextInt(10) == 0 ? special[r.nextInt(special.length)] : r.nextInt(4) - 2;
            int n = g.planes() * g.oh() * g.ow();
            float[] with = new float[n], without = new float[n];
            try (CpuBackend be = CpuBackend.create(2)) {
                PoolKernels.maxForward(be, g, x, with, new int[n]);
                PoolKernels.maxForward(be, g, x, without, null);
            }
            for (int i = 0; i < n; i++) assertEquals(Float.floatToRawIntBits(with[i]), Float.floatToRawIntBits(without[i]), g + ", output " + i);
        }
    }
}
