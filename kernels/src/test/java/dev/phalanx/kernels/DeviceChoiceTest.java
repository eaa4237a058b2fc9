package dev.phalanx.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.cuda.CudaProbe;
import dev.phalanx.kernels.cuda.CudaUnavailableException;
import dev.phalanx.kernels.device.DeviceException;

/** --device cpu|cuda|auto against a machine with and without a GPU (probe reports made up here). */
class DeviceChoiceTest {

    private static final CudaProbe.Report NONE = new CudaProbe.Report(List.of(), Map.of(), "the NVIDIA driver (libcuda.so.1) is not installed", Map.of());
    private static final CudaProbe.Report ONE = new CudaProbe.Report(List.of(new CudaProbe.Gpu(0, "NVIDIA H200", 140L << 30, 9, 0, 132)),
            Map.of(), "", Map.of());

    @Test
    void cudaWithoutAGpuIsOneLineWithTheReason() {
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class, () -> DeviceChoice.resolve(DeviceChoice.Requested.CUDA, NONE));
        assertEquals("no CUDA device: the NVIDIA driver (libcuda.so.1) is not installed", e.getMessage());
    }

    @Test
    void autoWithoutAGpuTrainsOnTheCpuAndSaysWhy() {
        DeviceChoice c = DeviceChoice.resolve(DeviceChoice.Requested.AUTO, NONE);
        assertEquals(Device.CPU, c.device());
        assertEquals("device: cpu (no CUDA device: the NVIDIA driver (libcuda.so.1) is not installed)", c.note());
    }

    @Test
    void aGpuIsReportedButNotUsedUntilTensorsCanLiveOnIt() {
        DeviceChoice auto = DeviceChoice.resolve(DeviceChoice.Requested.AUTO, ONE);
        assertEquals(Device.CPU, auto.device());
        assertTrue(auto.note().startsWith("device: cpu (found cuda:0 (NVIDIA H200), but training on a GPU is not built"), auto.note());
        DeviceException e = assertThrows(DeviceException.class, () -> DeviceChoice.resolve(DeviceChoice.Requested.CUDA, ONE));
        assertTrue(e.getMessage().startsWith("--device cuda: found cuda:0 (NVIDIA H200)"), e.getMessage());
    }

    @Test
    void cpuIsCpuWithNothingToSay() {
        assertEquals(new DeviceChoice(Device.CPU, ""), DeviceChoice.resolve(DeviceChoice.Requested.CPU));
    }

    @Test
    void anUnknownDeviceNamesWhereItCameFrom() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceChoice.parse("gpu", "--device"));
        assertEquals("--device must be cpu, cuda or auto, got 'gpu'", e.getMessage());
        assertEquals(DeviceChoice.Requested.AUTO, DeviceChoice.parse(" Auto ", "x"));
    }

    @Test
    void theBlitzsDeviceLineWorksOnAnyMachine() {
        Device d = Device.cudaIfAvailable();
        assertEquals(Cuda.isAvailable() ? Device.cuda(0) : Device.CPU, d);
        assertEquals(Cuda.isAvailable(), Cuda.deviceCount() > 0);
        assertEquals(Cuda.isAvailable(), Cuda.unavailableReason().isEmpty());
    }
}
