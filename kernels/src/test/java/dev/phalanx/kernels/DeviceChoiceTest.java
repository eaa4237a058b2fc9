package dev.phalanx.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.cuda.CudaProbe;
import dev.phalanx.kernels.cuda.CudaUnavailableException;

/** --device cpu|cuda|cuda:N|sim:N|auto against a machine with and without a GPU (probe reports made up here). */
class DeviceChoiceTest {

    private static final CudaProbe.Report NONE = new CudaProbe.Report(List.of(), Map.of(), "the NVIDIA driver (libcuda.so.1) is not installed", Map.of());
    private static final CudaProbe.Report ONE = new CudaProbe.Report(List.of(new CudaProbe.Gpu(0, "NVIDIA H200", 140L << 30, 9, 0, 132)),
            Map.of(), "", Map.of());
    private static final CudaProbe.Report TWO = new CudaProbe.Report(List.of(new CudaProbe.Gpu(0, "NVIDIA H200", 140L << 30, 9, 0, 132),
            new CudaProbe.Gpu(1, "NVIDIA H200", 140L << 30, 9, 0, 132)), Map.of(), "", Map.of());

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
    void aGpuIsUsedByCudaAndAutoAndEveryGpuGetsAReplica() {
        DeviceChoice auto = DeviceChoice.resolve(DeviceChoice.Requested.AUTO, ONE);
        assertEquals(Device.cuda(0), auto.device());
        assertEquals("device: cuda (1 GPU, cuda:0 (NVIDIA H200))", auto.note());
        assertEquals(new DeviceChoice(Device.cuda(0), ""), DeviceChoice.resolve(DeviceChoice.Requested.CUDA, ONE));
        CudaUnavailableException beyond = assertThrows(CudaUnavailableException.class, () -> DeviceChoice.resolve(DeviceChoice.Requested.cuda(1), ONE));
        assertEquals("no CUDA device: cuda:1 was asked for, but this machine has 1 GPU, cuda:0 (NVIDIA H200)", beyond.getMessage());
        DeviceChoice two = DeviceChoice.resolve(DeviceChoice.Requested.CUDA, TWO);
        assertEquals(List.of(Device.cuda(0), Device.cuda(1)), two.placement(1, false), "one replica per GPU");
        assertEquals(List.of(Device.cuda(0), Device.cuda(1), Device.cuda(0)), two.placement(3, true), "replicas in turn over the GPUs");
        assertEquals(List.of(Device.cuda(1), Device.cuda(1)), DeviceChoice.resolve(DeviceChoice.Requested.cuda(1), TWO).placement(2, true));
    }

    @Test
    void simIsTheSimulatedDeviceAndSaysSoWithoutAskingTheDriver() {
        assertEquals(DeviceChoice.Requested.sim(0), DeviceChoice.parse("sim", "--device"));
        assertEquals(DeviceChoice.Requested.sim(3), DeviceChoice.parse("SIM:3", "--device"));
        assertEquals(DeviceChoice.Requested.cuda(1), DeviceChoice.parse("cuda:1", "--device"));
        DeviceChoice sim = DeviceChoice.resolve(DeviceChoice.Requested.sim(3));
        assertEquals(Device.sim(3), sim.device());
        assertTrue(sim.note().startsWith("device: sim:3 (the simulated device"), sim.note());
        assertEquals(List.of(Device.sim(3), Device.sim(3)), sim.placement(2, true));
    }

    @Test
    void cpuIsCpuWithNothingToSay() {
        assertEquals(new DeviceChoice(Device.CPU, ""), DeviceChoice.resolve(DeviceChoice.Requested.CPU));
    }

    @Test
    void anUnknownDeviceNamesWhereItCameFrom() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DeviceChoice.parse("gpu", "--device"));
        assertEquals("--device must be cpu, cuda, cuda:N, auto, sim or sim:N (the simulated device), got 'gpu'", e.getMessage());
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
