package dev.phalanx.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.KernelArgs;
import dev.phalanx.kernels.device.KernelCatalog;
import dev.phalanx.kernels.device.SimulatedDevice;

/** The CUDA backend's host logic, without a GPU: argument packing, the compile cache, compile errors, version checks, error messages. */
class CudaHostLogicTest {

    @TempDir
    Path tmp;

    @Test
    void launchArgumentsArePackedAsPointersToTheirValues() {
        try (SimulatedDevice owner = new SimulatedDevice(0)) {
            DeviceBuffer b = DeviceBuffer.of(owner, 0x7f0000001000L, 4096).slice(256, 1024);
            KernelArgs args = KernelArgs.of().ptr(b).i32(-7).i64(1L << 40).f32(0.25f);
            try (CudaLaunchArgs packed = new CudaLaunchArgs(args)) {
                assertEquals(0x7f0000001100L, new LongPointer(packed.params().get(0)).get(), "a pointer argument holds the range's address");
                assertEquals(-7, new IntPointer(packed.params().get(1)).get());
                assertEquals(1L << 40, new LongPointer(packed.params().get(2)).get());
                assertEquals(0.25f, new FloatPointer(packed.params().get(3)).get());
                for (int i = 0; i < 4; i++) assertEquals(packed.cell(i).address(), packed.params().get(i).address());
            }
        }
    }

    @Test
    void kernelsAreCompiledOncePerArchitectureAndProcess() throws Exception {
        AtomicInteger calls = new AtomicInteger();
        KernelBinaryCache cache = new KernelBinaryCache(KernelCatalog.standard(), (arch, src) -> {
            calls.incrementAndGet();
            assertTrue(src.contains("adam_step"));
            return arch.getBytes();
        });
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Future<byte[]>> f = new ArrayList<>();
        for (int i = 0; i < 8; i++) f.add(pool.submit(() -> cache.binary("sm_90")));
        byte[] first = f.get(0).get(10, TimeUnit.SECONDS);
        for (Future<byte[]> x : f) assertSame(first, x.get(10, TimeUnit.SECONDS));
        pool.shutdown();
        cache.binary("sm_80");
        assertEquals(2, calls.get());
        assertEquals("sm_86", KernelBinaryCache.arch(8, 6));
        assertThrows(IllegalArgumentException.class, () -> cache.binary("compute_90"));
    }

    @Test
    void aFailedCompilationIsRememberedAndRethrown() {
        AtomicInteger calls = new AtomicInteger();
        KernelBinaryCache cache = new KernelBinaryCache(KernelCatalog.standard(), (arch, src) -> {
            calls.incrementAndGet();
            throw new KernelCompileException(arch, List.of("relu_forward"), "elementwise.cu(31): error: oops");
        });
        KernelCompileException a = assertThrows(KernelCompileException.class, () -> cache.binary("sm_90"));
        KernelCompileException b = assertThrows(KernelCompileException.class, () -> cache.binary("sm_90"));
        assertSame(a, b);
        assertEquals(1, calls.get());
        assertEquals("NVRTC could not compile kernel relu_forward for sm_90:\nelementwise.cu(31): error: oops", a.getMessage());
    }

    @Test
    void aCompileErrorNamesTheKernelItIsIn() throws Exception {
        String nvcc = nvcc();
        assumeTrue(nvcc != null, "nvcc is not installed here: no real compiler log to read");
        Map<String, String> files = new LinkedHashMap<>();
        for (String f : CudaKernelSources.FILES) {
            String s = CudaKernelSources.read(f);
            if (f.equals("elementwise.cu")) s = s.replace("y[i] = fmaxf(x[i], 0.0f);", "y[i] = fmaxf(x[i], no_such_value);");
            if (f.equals("optimizers.cu")) s = s.replace("float avg = sqrtf(vi) + eps;", "float avg = sqrtf(vi) + epsilon;");
            files.put(f, s);
        }
        KernelCatalog broken = KernelCatalog.of(files);
        Path src = tmp.resolve(NvrtcCompiler.UNIT);
        Files.writeString(src, broken.assembledSource());
        Process p = new ProcessBuilder(nvcc, "-arch=compute_75", "-ptx", src.toString(), "-o", tmp.resolve("x.ptx").toString())
                .redirectErrorStream(true).start();
        String log = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS));
        assertTrue(p.exitValue() != 0, log);
        KernelCompileException e = new KernelCompileException("sm_90", broken.kernelsInErrors(log), log);
        assertEquals(List.of("relu_forward", "rmsprop_step"), e.kernels(), log);
        assertTrue(e.getMessage().startsWith("NVRTC could not compile kernel relu_forward, rmsprop_step for sm_90:\n"), e.getMessage());
        assertTrue(e.getMessage().contains("no_such_value"), e.getMessage());
    }

    static String nvcc() {
        for (String p : new String[] {"/usr/local/cuda/bin/nvcc", "/usr/local/bin/nvcc", "/usr/bin/nvcc"}) {
            if (Files.isExecutable(Path.of(p))) return p;
        }
        return null;
    }

    /** The reference BLAS sgemm, column-major, as cuBLAS defines it: C = alpha op(A) op(B) + beta C. */
    private static void columnMajorSgemm(boolean ta, boolean tb, int m, int n, int k, float alpha, float[] a, int lda, float[] b, int ldb,
                                         float beta, float[] c, int ldc) {
        for (int j = 0; j < n; j++) {
            for (int i = 0; i < m; i++) {
                double s = 0;
                for (int p = 0; p < k; p++) s += (double) (ta ? a[p + i * lda] : a[i + p * lda]) * (tb ? b[j + p * ldb] : b[p + j * ldb]);
                c[i + j * ldc] = (float) (alpha * s + beta * c[i + j * ldc]);
            }
        }
    }

    @Test
    void theRowMajorGemmMapsOntoCublassColumnMajorOne() {
        java.util.Random r = new java.util.Random(3);
        int m = 4, n = 3, k = 5;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                float[] a = new float[m * k], b = new float[k * n], c = new float[m * n], expected = new float[m * n];
                for (int i = 0; i < a.length; i++) a[i] = r.nextFloat();
                for (int i = 0; i < b.length; i++) b[i] = r.nextFloat();
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double s = 0;
                        for (int p = 0; p < k; p++) s += (double) (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                        expected[i * n + j] = (float) s;
                    }
                }
                CublasGemmArgs g = CublasGemmArgs.of(ta, tb, m, n, k);
                columnMajorSgemm(g.transFirst(), g.transSecond(), g.m(), g.n(), g.k(), 1f, b, g.ldFirst(), a, g.ldSecond(), 0f, c, g.ldc());
                for (int i = 0; i < c.length; i++) {
                    assertEquals(expected[i], c[i], 1e-5f, "transA=" + ta + " transB=" + tb + " element " + i);
                }
            }
        }
    }

    @Test
    void versionsOtherThanThePresetsNeedAreRefusedWithTheReason() {
        assertTrue(CudaVersions.problem(13000, 13000, 91900).isEmpty());
        assertTrue(CudaVersions.problem(13010, 13000, 91000).isEmpty());
        assertEquals("the CUDA runtime is 12.8, but Phalanx's bindings need CUDA 13.x (install the CUDA 13 runtime, e.g. pip's "
                + "nvidia-cuda-runtime for cu13)", CudaVersions.problem(13000, 12080, 91900).orElseThrow());
        assertTrue(CudaVersions.problem(12080, 13000, 91900).orElseThrow().contains("the NVIDIA driver supports CUDA 12.8 only"));
        assertEquals("cuDNN is 8.9.7, but Phalanx's bindings need cuDNN 9.x (pip's nvidia-cudnn-cu13)",
                CudaVersions.problem(13000, 13000, 80907).orElseThrow());
    }

    @Test
    void errorMessagesNameTheCallTheStatusAndTheShapes() {
        assertEquals("cublasSgemm_v2 failed with CUBLAS_STATUS_INVALID_VALUE (7) for C[4x5] = A[4x3] B[3x5]",
                CudaErrors.message("cublasSgemm_v2", "CUBLAS_STATUS_INVALID_VALUE", 7, "C[4x5] = A[4x3] B[3x5]"));
        assertEquals("cudaMalloc failed with cudaErrorMemoryAllocation (2)", CudaErrors.message("cudaMalloc", "cudaErrorMemoryAllocation", 2, ""));
        assertEquals("no CUDA device: the driver reports 0 GPUs", new CudaUnavailableException("the driver reports 0 GPUs").getMessage());
    }
}
