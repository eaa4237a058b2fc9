package dev.phalanx.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Both GEMMs against a double-precision reference, for every transpose and offset case. */
class GemmTest {

    static Stream<Gemm> gemms() {
        OpenBlasGemm.Result r = OpenBlasGemm.load();
        return r.gemm().isPresent() ? Stream.of(new JavaGemm(), r.gemm().get()) : Stream.of(new JavaGemm());
    }

    @Test
    void openBlasLoadsOnLinuxX86() {
        assumeTrue(System.getProperty("os.name").toLowerCase().contains("linux")
                && System.getProperty("os.arch").matches("amd64|x86_64"), "the bundled OpenBLAS is built for linux-x86_64 only");
        OpenBlasGemm.Result r = OpenBlasGemm.load();
        assertTrue(r.gemm().isPresent(), "OpenBLAS should load here: " + r.whyNot());
        assertTrue(CpuBackend.create(1).describe().contains("OpenBLAS"), CpuBackend.create(1).describe());
    }

    @Test
    void pureJavaCanBeForced() {
        try (CpuBackend b = CpuBackend.create(2, CpuBackend.Kernels.JAVA)) {
            assertTrue(b.describe().startsWith("cpu backend: pure Java GEMM, 2 threads"), b.describe());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("gemms")
    void matchesReference(Gemm gemm) {
        Random rnd = new Random(7);
        int[][] shapes = {{1, 1, 1}, {3, 5, 7}, {4, 4, 4}, {6, 784, 75}, {17, 3, 9}, {2, 130, 1}, {5, 2, 64}};
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    for (boolean acc : new boolean[] {false, true}) {
                        int off = 3;
                        float[] a = random(rnd, off + m * k), b = random(rnd, off + k * n), c = random(rnd, off + m * n);
                        double[] ref = new double[m * n];
                        for (int i = 0; i < m; i++) {
                            for (int j = 0; j < n; j++) {
                                double sum = acc ? c[off + i * n + j] : 0;
                                for (int p = 0; p < k; p++) {
                                    float av = ta ? a[off + p * m + i] : a[off + i * k + p];
                                    float bv = tb ? b[off + j * k + p] : b[off + p * n + j];
                                    sum += (double) av * bv;
                                }
                                ref[i * n + j] = sum;
                            }
                        }
                        float before = c[0];
                        gemm.sgemm(ta, tb, m, n, k, a, off, b, off, c, off, acc);
                        assertEquals(before, c[0], 0f, "wrote outside its slice");
                        for (int i = 0; i < m * n; i++) {
                            assertEquals(ref[i], c[off + i], 1e-4 * (1 + Math.abs(ref[i])),
                                    gemm.name() + " m=" + m + " n=" + n + " k=" + k + " ta=" + ta + " tb=" + tb + " acc=" + acc + " at " + i);
                        }
                    }
                }
            }
        }
    }

    private static float[] random(Random r, int n) {
        float[] d = new float[n];
        for (int i = 0; i < n; i++) d[i] = (float) r.nextGaussian();
        return d;
    }
}
