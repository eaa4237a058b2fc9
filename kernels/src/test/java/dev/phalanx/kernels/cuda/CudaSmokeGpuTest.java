package dev.phalanx.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

import dev.phalanx.kernels.cpu.ConvGeometry;
import dev.phalanx.kernels.cpu.ConvKernels;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.kernels.device.ConvAlgorithm;
import dev.phalanx.kernels.device.ConvDirection;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.DeviceTransfers;
import dev.phalanx.kernels.device.KernelArgs;
import dev.phalanx.kernels.device.LaunchConfig;
import dev.phalanx.kernels.device.Stream;

/**
 * Each CUDA binding called once and compared with the CPU: the first thing {@code bench/gpu-check.sh}
 * runs on a GPU machine, and the one that stops it when it fails. In order: the runtime (malloc,
 * copies), cuBLAS, cuDNN, NVRTC with a kernel launch, NCCL. Skipped, with the reason, without a GPU.
 */
@Tag("gpu")
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CudaSmokeGpuTest {

    private static CudaDevice device;
    private static Stream stream;

    @BeforeAll
    static void open() {
        CudaProbe.Report r = CudaProbe.probe();
        if (!r.available()) return;
        System.out.println("[smoke] " + String.join("; ", CudaProbe.describe(r)));
        device = CudaDevice.open(0);
        stream = device.newStream();
        System.out.println("[smoke] " + device + ", kernels compiled for " + device.arch());
    }

    /** Each test is reported skipped, with the reason, where there is no GPU. */
    @org.junit.jupiter.api.BeforeEach
    void needsAGpu() {
        assumeTrue(device != null, "no CUDA device: " + CudaProbe.probe().reason());
    }

    @AfterAll
    static void close() {
        if (device != null) device.close();
    }

    private static DeviceBuffer upload(float[] a) {
        DeviceBuffer b = device.malloc(a.length * 4L);
        DeviceTransfers.upload(device, stream, a, b);
        return b;
    }

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    private static void close(float[] expected, float[] actual, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Math.abs(expected[i] - actual[i]) <= 1e-4f * Math.max(1f, Math.abs(expected[i])),
                    what + " element " + i + ": expected " + expected[i] + ", got " + actual[i]);
        }
    }

    @Test
    @Order(1)
    void runtimeMallocAndCopies() {
        float[] a = random(1 << 16, 1);
        DeviceBuffer d = upload(a), e = device.malloc(a.length * 4L);
        device.copyDeviceToDevice(d, e, a.length * 4L, stream);
        assertArrayEquals(a, DeviceTransfers.download(device, stream, e, a.length));
        assertTrue(device.memoryInfo().totalBytes() > 1L << 30, device.memoryInfo().toString());
        device.free(d);
        device.free(e);
    }

    @Test
    @Order(2)
    void cublasSgemm() { // every transpose: the row-major to column-major mapping against real cuBLAS
        int m = 33, n = 17, k = 65;
        float[] a = random(m * k, 2), b = random(k * n, 3);
        DeviceBuffer da = upload(a), db = upload(b), dc = device.malloc(m * n * 4L);
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                float[] c = new float[m * n];
                CpuBackend.serial().gemm().sgemm(ta, tb, m, n, k, a, 0, b, 0, c, 0, false);
                device.gemm(stream, ta, tb, m, n, k, 1f, da, db, 0f, dc);
                close(c, DeviceTransfers.download(device, stream, dc, c.length), "sgemm transA=" + ta + " transB=" + tb);
            }
        }
    }

    @Test
    @Order(3)
    void cudnnConvolutionForward() {
        ConvGeometry g = new ConvGeometry(2, 3, 12, 12, 6, 5, 5, 1, 1, 2, 2);
        float[] x = random(g.n() * g.inImage(), 4), w = random(g.cout() * g.patch(), 5), y = new float[g.n() * g.outImage()];
        ConvKernels.forward(CpuBackend.serial(), g, x, w, null, y);
        ConvAlgorithm algo = device.findConvAlgorithm(ConvDirection.FORWARD, g);
        System.out.println("[smoke] cuDNN chose " + algo);
        DeviceBuffer ws = algo.workspaceBytes() > 0 ? device.malloc(algo.workspaceBytes()) : null;
        DeviceBuffer dy = device.malloc(y.length * 4L);
        device.convForward(stream, g, algo, upload(x), upload(w), dy, ws);
        close(y, DeviceTransfers.download(device, stream, dy, y.length), "conv forward");
    }

    @Test
    @Order(4)
    void nvrtcCompileAndLaunch() {
        float[] x = random(10_000, 6), y = new float[x.length];
        for (int i = 0; i < x.length; i++) y[i] = Math.max(0f, x[i]);
        DeviceBuffer dx = upload(x), dy = device.malloc(x.length * 4L);
        long t0 = System.nanoTime();
        device.launch(stream, "relu_forward", LaunchConfig.linear(x.length), KernelArgs.of().ptr(dx).ptr(dy).i64(x.length));
        System.out.printf("[smoke] NVRTC compile, load and first launch: %.0f ms%n", (System.nanoTime() - t0) / 1e6);
        assertArrayEquals(y, DeviceTransfers.download(device, stream, dy, x.length));
    }

    @Test
    @Order(5)
    void ncclInitAndAllReduce() {
        float[] a = random(1000, 7);
        DeviceBuffer d = upload(a);
        try (NcclAllReduce nccl = new NcclAllReduce(List.of(device))) {
            nccl.allReduceSum(List.of(d), List.of(stream));
            assertArrayEquals(a, DeviceTransfers.download(device, stream, d, a.length), "a sum over one rank is the buffer itself");
            assertEquals(1, nccl.size());
        }
        // the cluster's way (issue #10): a unique id, ncclCommInitRank, one rank on this GPU
        try (NcclRankAllReduce rank = new NcclRankAllReduce(device, 0, 1, NcclRankAllReduce.newUniqueId())) {
            rank.allReduceSum(d, stream);
            assertArrayEquals(a, DeviceTransfers.download(device, stream, d, a.length), "a sum over one rank (ncclCommInitRank)");
        }
    }
}
