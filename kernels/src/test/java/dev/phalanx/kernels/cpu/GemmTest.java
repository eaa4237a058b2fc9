package dev.phalanx.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every GEMM against a double-precision reference, for every transpose and offset case. */
class GemmTest {

    static Stream<Gemm> gemms() {
        OpenBlasGemm.Result r = OpenBlasGemm.load();
        Stream.Builder<Gemm> all = Stream.builder();
        all.add(new JavaGemm());
        if (JavaKernels.vectorApi()) all.add(JavaKernels.gemm());
        r.gemm().ifPresent(all::add);
        return all.build();
    }

    /** The build's tests run with the module (the parent pom's argLine): VectorGemm must be what they test. */
    @Test
    void theTestsRunTheVectorApiGemm() {
        assertTrue(ModuleLayer.boot().findModule(JavaKernels.VECTOR_MODULE).isPresent(), "tests should run with --add-modules " + JavaKernels.VECTOR_MODULE);
        assertTrue(JavaKernels.vectorApi(), "the module is there, so the Vector API GEMM should load");
        assertTrue(JavaKernels.gemm() instanceof VectorGemm, JavaKernels.gemm().name());
    }

    /**
     * The Vector API GEMM gives the scalar one's bits for finite data (the same sums in the same
     * order), so the fallback's results do not depend on whether the JVM has the module: every
     * transpose case, with and without accumulation, shapes with row and column remainders, zeros in A.
     */
    @Test
    void theVectorApiGemmGivesTheScalarGemmsBits() {
        assumeTrue(JavaKernels.vectorApi(), "no Vector API in this JVM");
        Gemm scalar = new JavaGemm(), vector = JavaKernels.gemm();
        Random rnd = new Random(11);
        int[][] shapes = {{6, 784, 75}, {16, 100, 150}, {75, 784, 6}, {6, 75, 784}, {16, 150, 100}, {7, 33, 5}, {3, 16, 9},
                          {64, 120, 400}, {1, 17, 3}, {5, 4, 8}, {9, 65, 2},
                          // six-row tiles (m = 6, 10, 150), tails of one and of two vectors read in place
                          {10, 37, 9}, {150, 100, 16}, {6, 50, 7}, {14, 23, 31}, {11, 95, 4}};
        for (int[] s : shapes) {
            int m = s[0], n = s[1], k = s[2];
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    for (boolean acc : new boolean[] {false, true}) {
                        float[] a = random(rnd, 2 + m * k), b = random(rnd, 5 + k * n), c1 = random(rnd, 1 + m * n + 4);
                        for (int i = 0; i < a.length; i += 3) a[i] = 0f; // as after a ReLU: the scalar GEMM skips some of these
                        float[] c2 = c1.clone();
                        scalar.sgemm(ta, tb, m, n, k, a, 2, b, 5, c1, 1, acc);
                        vector.sgemm(ta, tb, m, n, k, a, 2, b, 5, c2, 1, acc);
                        assertTrue(java.util.Arrays.equals(c1, c2),
                                "m=" + m + " n=" + n + " k=" + k + " ta=" + ta + " tb=" + tb + " acc=" + acc);
                    }
                }
            }
        }
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
            String gemm = JavaKernels.vectorApi() ? JavaKernels.gemm().name() : "pure Java (scalar: java --add-modules jdk.incubator.vector runs it on the Vector API)";
            assertTrue(b.describe().startsWith("cpu backend: " + gemm + " GEMM, 2 threads"), b.describe());
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("gemms")
    void matchesReference(Gemm gemm) {
        Random rnd = new Random(7);
        int[][] shapes = {{1, 1, 1}, {3, 5, 7}, {4, 4, 4}, {6, 784, 75}, {17, 3, 9}, {2, 130, 1}, {5, 2, 64}, {7, 37, 5}, {6, 75, 33}};
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
