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
}
