package dev.phalanx.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;

import org.junit.jupiter.api.Test;

/** Convolution kernels: a direct-loop reference, and identical results on 1 and 2 threads. */
class ConvKernelsTest {

    private static final ConvGeometry G = new ConvGeometry(19, 3, 9, 8, 4, 3, 2, 2, 1, 1, 1);

    @Test
    void forwardMatchesDirectConvolution() {
        Random r = new Random(1);
        float[] x = random(r, G.n() * G.inImage()), w = random(r, G.cout() * G.patch()), b = random(r, G.cout());
        float[] out = new float[G.n() * G.outImage()];
        try (CpuBackend be = CpuBackend.create(2)) {
            ConvKernels.forward(be, G, x, w, b, out);
        }
        for (int n = 0; n < G.n(); n++)
            for (int co = 0; co < G.cout(); co++)
                for (int oy = 0; oy < G.oh(); oy++)
                    for (int ox = 0; ox < G.ow(); ox++) {
                        double s = b[co];
                        for (int ci = 0; ci < G.cin(); ci++)
                            for (int ky = 0; ky < G.kh(); ky++)
                                for (int kx = 0; kx < G.kw(); kx++) {
                                    int iy = oy * G.sh() - G.ph() + ky, ix = ox * G.sw() - G.pw() + kx;
                                    if (iy < 0 || iy >= G.h() || ix < 0 || ix >= G.w()) continue;
                                    s += (double) x[((n * G.cin() + ci) * G.h() + iy) * G.w() + ix] * w[((co * G.cin() + ci) * G.kh() + ky) * G.kw() + kx];
                                }
                        assertEquals(s, out[((n * G.cout() + co) * G.oh() + oy) * G.ow() + ox], 1e-4);
                    }
    }

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        Random r = new Random(2);
        float[] x = random(r, G.n() * G.inImage()), w = random(r, G.cout() * G.patch()), dout = random(r, G.n() * G.outImage());
        float[][] one = run(1, x, w, dout), two = run(2, x, w, dout);
        for (int i = 0; i < one.length; i++) assertArrayEquals(one[i], two[i], 0f, "output " + i);
    }

    private static float[][] run(int threads, float[] x, float[] w, float[] dout) {
        float[] out = new float[G.n() * G.outImage()], dx = new float[x.length], dw = new float[w.length], db = new float[G.cout()];
        try (CpuBackend be = CpuBackend.create(threads, CpuBackend.Kernels.JAVA)) {
            ConvKernels.forward(be, G, x, w, null, out);
            ConvKernels.backwardData(be, G, dout, w, dx);
            ConvKernels.backwardWeight(be, G, x, dout, dw, db);
        }
        return new float[][] {out, dx, dw, db};
    }

    @Test
    void badGeometryIsRejectedWithTheNumbers() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ConvGeometry(1, 1, 3, 3, 1, 5, 5, 1, 1, 0, 0));
        assertEquals("conv2d: kernel size (5, 5) is larger than the padded input (3, 3)", e.getMessage());
    }

    @Test
    void workerExceptionsReachTheCaller() {
        try (CpuBackend be = CpuBackend.create(2)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> be.parallelFor(10, i -> {
                if (i == 7) throw new IllegalStateException("boom at 7");
            }));
            assertEquals("boom at 7", e.getMessage());
        }
    }

    private static float[] random(Random r, int n) {
        float[] d = new float[n];
        for (int i = 0; i < n; i++) d[i] = (float) r.nextGaussian();
        return d;
    }

    /** im2row is unfold's transpose, padding and strides included. */
    @Test
    void unfoldRowsIsTheTransposeOfUnfold() {
        ConvGeometry[] gs = {G, new ConvGeometry(1, 3, 32, 32, 6, 5, 5, 1, 1, 0, 0), new ConvGeometry(1, 2, 7, 9, 3, 3, 4, 2, 3, 2, 1),
                             new ConvGeometry(1, 1, 5, 5, 1, 5, 5, 1, 1, 4, 4)};
        java.util.Random r = new java.util.Random(9);
        for (ConvGeometry g : gs) {
            float[] x = new float[g.inImage() + 3];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            int patch = g.patch(), plane = g.outPlane();
            float[] col = new float[patch * plane], rows = new float[patch * (plane + 2)];
            java.util.Arrays.fill(rows, Float.NaN); // everything it owns gets written
            ConvKernels.unfold(g, x, 3, col, 0, plane);
            ConvKernels.unfoldRows(g, x, 3, rows, 2);
            for (int q = 0; q < patch; q++) {
                for (int pix = 0; pix < plane; pix++) {
                    assertEquals(Float.floatToIntBits(col[q * plane + pix]), Float.floatToIntBits(rows[(2 + pix) * patch + q]), g + " q=" + q + " pixel=" + pix);
                }
            }
        }
    }

    /** The pure-Java weight gradient of one image is the GEMM of dout and the transposed columns, bit for bit. */
    @Test
    void pureJavaWeightGradientIsTheGemmOfTheColumns() {
        ConvGeometry g = new ConvGeometry(1, 3, 12, 10, 5, 3, 3, 1, 1, 1, 1);
        java.util.Random r = new java.util.Random(4);
        float[] x = new float[g.inImage()], dout = new float[g.outImage()];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < dout.length; i++) dout[i] = (float) r.nextGaussian();
        float[] col = new float[g.patch() * g.outPlane()], want = new float[g.cout() * g.patch()], dw = new float[want.length];
        ConvKernels.unfold(g, x, 0, col, 0, g.outPlane());
        new JavaGemm().sgemm(false, true, g.cout(), g.patch(), g.outPlane(), dout, 0, col, 0, want, 0, false);
        try (CpuBackend be = CpuBackend.create(1, CpuBackend.Kernels.JAVA)) {
            ConvKernels.backwardWeight(be, g, x, dout, dw, null);
        }
        assertArrayEquals(want, dw);
    }

    /**
     * im2col, im2row and col2im give the same bits whichever {@link Runs} moves them (the Vector
     * API's where the tests run, against plain Java), several images side by side, padding and
     * strides included; im2row writes nothing past its rows, and each leaves the other images'
     * columns alone.
     */
    @Test
    void theRunsOnTheVectorApiGiveThePlainLoopsBits() {
        Runs vector = JavaKernels.runs();
        ConvGeometry[] gs = {G, new ConvGeometry(3, 3, 32, 32, 6, 5, 5, 1, 1, 0, 0), new ConvGeometry(3, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0),
                             new ConvGeometry(2, 2, 7, 9, 3, 3, 4, 2, 3, 2, 1), new ConvGeometry(2, 1, 5, 5, 1, 5, 5, 1, 1, 4, 4),
                             new ConvGeometry(2, 4, 20, 40, 2, 3, 17, 1, 1, 1, 0)};
        Random r = new Random(12);
        for (ConvGeometry g : gs) {
            int patch = g.patch(), plane = g.outPlane(), cols = g.n() * plane;
            float[] x = random(r, g.n() * g.inImage());
            float[] col1 = new float[patch * cols + 40], col2 = col1.clone(), rows1 = new float[patch * cols], rows2 = rows1.clone();
            java.util.Arrays.fill(rows1, Float.NaN);
            java.util.Arrays.fill(rows2, Float.NaN);
            java.util.Arrays.fill(col1, -7f);
            java.util.Arrays.fill(col2, -7f);
            for (int j = 0; j < g.n(); j++) {
                ConvKernels.unfold(g, x, j * g.inImage(), col1, j * plane, cols, Runs.SCALAR);
                ConvKernels.unfold(g, x, j * g.inImage(), col2, j * plane, cols, vector);
                ConvKernels.unfoldRows(g, x, j * g.inImage(), rows1, j * plane, Runs.SCALAR);
                ConvKernels.unfoldRows(g, x, j * g.inImage(), rows2, j * plane, vector);
            }
            assertArrayEquals(col1, col2, 0f, g + ": unfold");
            assertArrayEquals(rows1, rows2, 0f, g + ": unfoldRows");
            for (int q = 0; q < patch; q++) {
                for (int pix = 0; pix < cols; pix++) {
                    assertEquals(Float.floatToIntBits(col1[q * cols + pix]), Float.floatToIntBits(rows1[pix * patch + q]), g + " q=" + q + " pixel=" + pix);
                }
            }
            float[] dcol = random(r, patch * cols), dx1 = random(r, g.n() * g.inImage()), dx2 = dx1.clone();
            for (int j = 0; j < g.n(); j++) {
                ConvKernels.fold(g, dcol, j * plane, cols, dx1, j * g.inImage(), Runs.SCALAR);
                ConvKernels.fold(g, dcol, j * plane, cols, dx2, j * g.inImage(), vector);
            }
            assertArrayEquals(dx1, dx2, 0f, g + ": fold");
        }
    }

    /** Where the tests run, the fallback moves its runs on the Vector API (the parent pom adds the module). */
    @Test
    void theTestsRunTheVectorApiRuns() {
        org.junit.jupiter.api.Assertions.assertTrue(JavaKernels.vectorApi() && JavaKernels.runs() instanceof VectorRuns, String.valueOf(JavaKernels.runs()));
    }
}
