package dev.phalanx.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import org.junit.jupiter.api.Test;

/** Where there is no usable GPU, opening one fails with the probe's one-line reason. */
class CudaUnavailableTest {

    @Test
    void openingAGpuOnAMachineWithoutOneSaysWhy() {
        CudaProbe.Report r = CudaProbe.probe();
        assumeFalse(r.available(), "this machine has a GPU: the failure path cannot be provoked here");
        CudaUnavailableException e = assertThrows(CudaUnavailableException.class, () -> CudaDevice.open(0));
        assertEquals("no CUDA device: " + r.reason(), e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), "one line");
        assertEquals(0, CudaDevice.deviceCount());
    }
}
