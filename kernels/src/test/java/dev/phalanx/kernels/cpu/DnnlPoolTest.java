package dev.phalanx.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

/** oneDNN's average pooling against the pure-Java loop, padding and uneven chunks included, and the same bits on 1 and 2 threads. */
class DnnlPoolTest {

    private static final List<PoolGeometry> SHAPES = List.of(
            new PoolGeometry(6 * 70, 28, 28, 2, 2, 2, 2, 0, 0),  // LeNet's pool over 70 images: several chunks
            new PoolGeometry(7, 9, 8, 3, 3, 2, 1, 1, 1),          // padding counted in the divisor
            new PoolGeometry(5, 5, 7, 5, 3, 1, 2, 2, 0));

    private static float[][] run(CpuBackend be, PoolGeometry g) {
        Random r = new Random(7);
        float[] x = DnnlConvTest.random(r, g.planes() * g.h() * g.w()), dout = DnnlConvTest.random(r, g.planes() * g.oh() * g.ow());
        float[] out = new float[dout.length], dx = new float[x.length];
        java.util.Arrays.fill(out, Float.NaN);
        java.util.Arrays.fill(dx, Float.NaN);
        PoolKernels.avgForward(be, g, x, out);
        PoolKernels.avgBackward(be, g, dout, dx);
        return new float[][] {out, dx};
    }

    @Test
    void averagePoolingMatchesTheJavaLoopOnAnyThreadCount() {
        try (CpuBackend java = CpuBackend.create(1, CpuBackend.Kernels.JAVA);
             CpuBackend one = CpuBackend.create(1, CpuBackend.Kernels.AUTO);
             CpuBackend two = CpuBackend.create(2, CpuBackend.Kernels.AUTO)) {
            DnnlConvTest.assumeOneDnn(one);
            for (PoolGeometry g : SHAPES) {
                float[][] want = run(java, g), a = run(one, g), b = run(two, g);
                DnnlConvTest.assertClose(want[0], a[0], "forward of " + g);
                DnnlConvTest.assertClose(want[1], a[1], "backward of " + g);
                for (int i = 0; i < 2; i++) assertArrayEquals(a[i], b[i], 0f, "output " + i + " of " + g + " on 1 and 2 threads");
            }
        }
    }
}
