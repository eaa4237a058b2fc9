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

    /** A node that got a damaged id or a bad rank from the cluster is stopped before NCCL, where every rank would hang. */
    @Test
    void ncclRanksAndUniqueIdsAreCheckedBeforeNcclSeesThem() {
        assertEquals(org.bytedeco.cuda.global.nccl.NCCL_UNIQUE_ID_BYTES, NcclRankAllReduce.UNIQUE_ID_BYTES); // the binding's constant
        NcclRankAllReduce.checkArguments(2, 3, new byte[128]);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NcclRankAllReduce.checkArguments(0, 2, new byte[64]));
        assertEquals("an NCCL unique id has 128 bytes, got 64 (it comes from rank 0's newUniqueId)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NcclRankAllReduce.checkArguments(3, 3, new byte[128]));
        assertEquals("NCCL rank 3 of 3 is not a rank", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> NcclRankAllReduce.checkArguments(0, 1, null));
    }

    @Test
    void launchArgumentsArePackedAsPointersToTheirValues() {
        try (SimulatedDevice owner = new SimulatedDevice(0)) {
            DeviceBuffer b = DeviceBuffer.of(owner, 0x7f0000001000L, 4096).slice(256, 1024);
            KernelArgs args = KernelArgs.of().ptr(b).i32(-7).i64(1L << 40).f32(0.25f).f64(-1.5e300);
            try (CudaLaunchArgs packed = new CudaLaunchArgs(args)) {
                assertEquals(0x7f0000001100L, new LongPointer(packed.params().get(0)).get(), "a pointer argument holds the range's address");
                assertEquals(-7, new IntPointer(packed.params().get(1)).get());
                assertEquals(1L << 40, new LongPointer(packed.params().get(2)).get());
                assertEquals(0.25f, new FloatPointer(packed.params().get(3)).get());
                assertEquals(-1.5e300, new org.bytedeco.javacpp.DoublePointer(packed.params().get(4)).get());
                for (int i = 0; i < 5; i++) assertEquals(packed.cell(i).address(), packed.params().get(i).address());
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
            if (f.equals("optimizers.cu")) s = s.replace("avg = sqrtf(vi) + eps;", "avg = sqrtf(vi) + epsilon;");
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

    /** cuBLAS's documented argument checks for sgemm (in its own, column-major terms), which return CUBLAS_STATUS_INVALID_VALUE. */
    private static String cublasRefuses(CublasGemmArgs g) {
        int rowsA = g.transFirst() ? g.k() : g.m(), rowsB = g.transSecond() ? g.n() : g.k();
        if (g.m() < 0 || g.n() < 0 || g.k() < 0) return "negative size";
        if (g.ldFirst() < Math.max(1, rowsA)) return "lda " + g.ldFirst() + " < max(1, " + rowsA + ")";
        if (g.ldSecond() < Math.max(1, rowsB)) return "ldb " + g.ldSecond() + " < max(1, " + rowsB + ")";
        if (g.ldc() < Math.max(1, g.m())) return "ldc " + g.ldc() + " < max(1, " + g.m() + ")";
        return null;
    }

    @Test
    void everyGemmShapePassesCublassArgumentChecksEmptyOnesIncluded() {
        int[][] shapes = {{4, 3, 5}, {1, 1, 1}, {1, 7, 1}, {0, 3, 5}, {4, 0, 5}, {4, 3, 0}, {0, 0, 0}};
        for (int[] s : shapes) {
            for (boolean ta : new boolean[] {false, true}) {
                for (boolean tb : new boolean[] {false, true}) {
                    CublasGemmArgs g = CublasGemmArgs.of(ta, tb, s[0], s[1], s[2]);
                    assertEquals(null, cublasRefuses(g), java.util.Arrays.toString(s) + " transA=" + ta + " transB=" + tb + ": " + g);
                    assertEquals(s[1], g.m(), "cuBLAS's m is the row-major n");
                    assertEquals(s[0], g.n(), "cuBLAS's n is the row-major m");
                    assertEquals(tb, g.transFirst(), "B goes first with its own flag");
                }
            }
        }
    }

    @Test
    void gpusOlderThanCuda13SupportsAreRefusedAtOpenWithTheReason() {
        assertEquals("cuda:0 (Tesla V100-SXM2-16GB) has compute capability 7.0, but CUDA 13 supports 7.5 and newer only: use the CPU "
                + "(--device cpu)", CudaVersions.architectureProblem("cuda:0", "Tesla V100-SXM2-16GB", 7, 0).orElseThrow());
        assertTrue(CudaVersions.architectureProblem("cuda:0", "Tesla P100", 6, 0).isPresent());
        for (int[] cc : new int[][] {{7, 5}, {8, 0}, {8, 6}, {8, 9}, {9, 0}, {10, 0}, {12, 0}}) {
            assertTrue(CudaVersions.architectureProblem("cuda:0", "gpu", cc[0], cc[1]).isEmpty(), cc[0] + "." + cc[1]);
        }
        assertEquals("sm_90", KernelBinaryCache.arch(9, 0), "an H100 or H200");
        assertEquals("sm_100", KernelBinaryCache.arch(10, 0));
        assertEquals("sm_120", KernelBinaryCache.arch(12, 0));
    }

    @Test
    void nvrtcCompilesToACubinForTheExactArchitectureWithoutFastMath() {
        List<String> o = NvrtcCompiler.options(KernelBinaryCache.arch(9, 0));
        assertEquals("--gpu-architecture=sm_90", o.get(0), "sm_XX (not compute_XX) makes NVRTC emit a cubin, which nvrtcGetCUBIN returns");
        assertTrue(o.stream().noneMatch(x -> x.contains("fast_math") || x.contains("ftz") || x.contains("prec-")), o.toString());
    }

    @Test
    void aFailedNvrtcCallOtherThanACompileErrorNamesItsStatusAndTheBuiltins() {
        assertEquals("kernel.cu(3): error: x", NvrtcCompiler.failure(6, "NVRTC_ERROR_COMPILATION", "kernel.cu(3): error: x", "/lib/b.so"));
        String f = NvrtcCompiler.failure(7, "NVRTC_ERROR_BUILTIN_OPERATION_FAILURE", "", "not found next to libnvrtc.so.13");
        assertEquals("nvrtcCompileProgram returned NVRTC_ERROR_BUILTIN_OPERATION_FAILURE (7); libnvrtc-builtins: not found next to "
                + "libnvrtc.so.13", f);
        assertTrue(NvrtcCompiler.failure(5, "NVRTC_ERROR_INVALID_OPTION", "nvrtc: error: invalid value for --gpu-architecture (-arch)\n", "b")
                .endsWith("\nnvrtc: error: invalid value for --gpu-architecture (-arch)\n"));
    }

    @Test
    void nvrtcsBuiltinsLibraryIsFoundBesideNvrtcAtItsOwnVersion() throws Exception {
        assertEquals(null, CudaLibraries.builtinsOfNvrtc(null));
        assertEquals(null, CudaLibraries.builtinsOfNvrtc(tmp), "an empty folder");
        Files.createFile(tmp.resolve("libnvrtc.so.13"));
        Files.createFile(tmp.resolve("libnvrtc-builtins.so.12.8"));
        Files.createFile(tmp.resolve("libnvrtc-builtins.alt.so.13.0"));
        assertEquals(null, CudaLibraries.builtinsOfNvrtc(tmp), "only other majors and the alt library");
        Files.createFile(tmp.resolve("libnvrtc-builtins.so.13.0"));
        assertEquals(tmp.resolve("libnvrtc-builtins.so.13.0"), CudaLibraries.builtinsOfNvrtc(tmp), "CUDA 13.0, as on the GPU machine");
        Files.createFile(tmp.resolve("libnvrtc-builtins.so.13.1"));
        assertEquals(tmp.resolve("libnvrtc-builtins.so.13.1"), CudaLibraries.builtinsOfNvrtc(tmp));
    }

    @Test
    void cudnnResultsAreUsedOnlyWhenTheyRanAreDeterministicAndFitTheMathMode() {
        int ok = org.bytedeco.cuda.global.cudnn.CUDNN_STATUS_SUCCESS, det = org.bytedeco.cuda.global.cudnn.CUDNN_DETERMINISTIC;
        int fma = org.bytedeco.cuda.global.cudnn.CUDNN_FMA_MATH, dflt = org.bytedeco.cuda.global.cudnn.CUDNN_DEFAULT_MATH;
        int tensorOp = org.bytedeco.cuda.global.cudnn.CUDNN_TENSOR_OP_MATH;
        assertTrue(CudaDevice.usable(ok, det, fma, fma));
        assertTrue(CudaDevice.usable(ok, det, dflt, fma));
        assertTrue(!CudaDevice.usable(org.bytedeco.cuda.global.cudnn.CUDNN_STATUS_NOT_SUPPORTED, det, fma, fma), "did not run");
        assertTrue(!CudaDevice.usable(ok, org.bytedeco.cuda.global.cudnn.CUDNN_NON_DETERMINISTIC, fma, fma), "atomics: not bitwise repeatable");
        assertTrue(!CudaDevice.usable(ok, det, tensorOp, fma), "TF32 with TF32 off");
        assertTrue(CudaDevice.usable(ok, det, tensorOp, dflt), "TF32 allowed");
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
