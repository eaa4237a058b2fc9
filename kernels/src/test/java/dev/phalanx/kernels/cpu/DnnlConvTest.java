package dev.phalanx.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

/**
 * oneDNN's convolutions against the pure-Java kernels (the fallback, itself checked against a
 * direct loop in {@link ConvKernelsTest}), on shapes that cut the batch into several chunks of
 * two sizes, and the same bits on 1 and 2 threads.
 */
class DnnlConvTest {

    private static final List<ConvGeometry> SHAPES = List.of(
            new ConvGeometry(37, 3, 32, 32, 6, 5, 5, 1, 1, 0, 0),   // LeNet's conv1, 10 chunks of 3 and 4 images
            new ConvGeometry(23, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0),  // LeNet's conv2
            new ConvGeometry(5, 4, 9, 8, 7, 3, 2, 2, 1, 1, 1),      // strides, padding, odd sizes
            new ConvGeometry(3, 2, 6, 6, 3, 1, 1, 1, 1, 0, 0));     // 1x1

    static void assumeOneDnn(CpuBackend be) {
        assumeTrue(be.dnnlConv() != null, "oneDNN did not load here: " + be.describe());
    }

    @Test
    void matchesThePureJavaKernels() {
        try (CpuBackend dnnl = CpuBackend.create(2, CpuBackend.Kernels.AUTO);
             CpuBackend java = CpuBackend.create(1, CpuBackend.Kernels.JAVA)) {
            assumeOneDnn(dnnl);
            for (ConvGeometry g : SHAPES) {
                for (boolean withBias : new boolean[] {true, false}) {
                    float[][] want = run(java, g, withBias, 3), got = run(dnnl, g, withBias, 3);
                    String[] names = {"forward", "backward-data", "weight gradient", "bias gradient"};
                    for (int i = 0; i < want.length; i++) assertClose(want[i], got[i], names[i] + " of " + g);
                }
            }
        }
    }

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        try (CpuBackend one = CpuBackend.create(1, CpuBackend.Kernels.AUTO);
             CpuBackend two = CpuBackend.create(2, CpuBackend.Kernels.AUTO)) {
            assumeOneDnn(one);
            for (ConvGeometry g : SHAPES) {
                float[][] a = run(one, g, true, 4);
                for (int rep = 0; rep < 3; rep++) { // two threads running one primitive at once: a race would show here
                    float[][] b = run(two, g, true, 4);
                    for (int i = 0; i < a.length; i++) assertArrayEquals(a[i], b[i], 0f, "output " + i + " of " + g + ", run " + rep);
                }
            }
        }
    }

    @Test
    void repeatedCallsReuseThePlanAndSeeNewWeights() {
        ConvGeometry g = SHAPES.get(0);
        try (CpuBackend dnnl = CpuBackend.create(2, CpuBackend.Kernels.AUTO);
             CpuBackend java = CpuBackend.create(1, CpuBackend.Kernels.JAVA)) {
            assumeOneDnn(dnnl);
            for (int seed = 10; seed < 12; seed++) {
                float[][] want = run(java, g, true, seed), got = run(dnnl, g, true, seed);
                for (int i = 0; i < want.length; i++) assertClose(want[i], got[i], "output " + i + ", call " + seed);
            }
        }
    }

    /**
     * The default mode asks for channels-last layouts in places (DnnlConvPlan.Layouts.MEASURED);
     * where oneDNN would answer that with a reference kernel the plan must take its own choice
     * instead. Checked on every shape here, for the instruction set oneDNN runs (the suite is
     * also run with ONEDNN_MAX_CPU_ISA=AVX2 to see the AVX2 rules).
     */
    @Test
    void noPlanRunsOnAReferenceKernel() {
        try (CpuBackend be = CpuBackend.create(1, CpuBackend.Kernels.AUTO)) {
            assumeOneDnn(be);
            OneDnn dnnl = OneDnn.load().dnnl().orElseThrow();
            for (ConvGeometry g : SHAPES) {
                for (DnnlConvPlan.Layouts layouts : DnnlConvPlan.Layouts.values()) {
                    try (DnnlConvPlan plan = new DnnlConvPlan(dnnl.engine(), g, layouts, dnnl.avx512())) {
                        plan.prepareBackwardWeights(1);
                        for (String impl : new String[] {plan.forwardImplementation(), plan.weightGradientImplementation()}) {
                            assertTrue(!impl.startsWith("ref"), layouts + " plan of " + g + " runs " + impl);
                        }
                    }
                }
            }
        }
    }

    @Test
    void theStartUpLineNamesOneDnnAndItsInstructionSet() {
        try (CpuBackend be = CpuBackend.create(1, CpuBackend.Kernels.AUTO)) {
            assumeOneDnn(be);
            String d = be.describe();
            assertTrue(d.matches("cpu backend: oneDNN \\d+\\.\\d+\\.\\d+ \\((avx|sse|isa)[a-z0-9_ ]*\\) convolutions and average pooling, OpenBLAS .*"), d);
        }
        try (CpuBackend be = CpuBackend.create(1, CpuBackend.Kernels.JAVA)) {
            assertEquals("cpu backend: " + JavaKernels.gemm().name() + (JavaKernels.vectorApi() ? "" : " (scalar: java --add-modules jdk.incubator.vector runs it on the Vector API)")
                    + " GEMM, 1 thread (native kernels not used: pure Java kernels were asked for)", be.describe());
        }
    }

    /** forward, backward-data, weight and bias gradients of one random problem. */
    static float[][] run(CpuBackend be, ConvGeometry g, boolean withBias, int seed) {
        Random r = new Random(seed);
        float[] x = random(r, g.n() * g.inImage()), w = random(r, g.cout() * g.patch()), b = random(r, g.cout());
        float[] dout = random(r, g.n() * g.outImage());
        float[] out = new float[g.n() * g.outImage()], dx = new float[x.length], dw = new float[w.length], db = new float[g.cout()];
        java.util.Arrays.fill(dx, Float.NaN); // every output element must be written
        java.util.Arrays.fill(dw, Float.NaN);
        ConvKernels.forward(be, g, x, w, withBias ? b : null, out);
        ConvKernels.backwardData(be, g, dout, w, dx);
        ConvKernels.backwardWeight(be, g, x, dout, dw, withBias ? db : null);
        return new float[][] {out, dx, dw, db};
    }

    static void assertClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        double scale = 0;
        for (float v : want) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < want.length; i++) {
            double tol = 1e-5 * Math.max(1, scale) * 10; // float sums of up to a few thousand terms, in another order
            if (!(Math.abs(want[i] - got[i]) <= tol)) {
                throw new AssertionError(what + ": element " + i + " is " + got[i] + ", expected " + want[i] + " (tolerance " + tol + ")");
            }
        }
    }

    static float[] random(Random r, int n) {
        float[] d = new float[n];
        for (int i = 0; i < n; i++) d[i] = (float) r.nextGaussian();
        return d;
    }
}
