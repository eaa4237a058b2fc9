package dev.phalanx;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;

import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;

/** GoldenDeviceOptimTest on {@code cuda:0}: torch.optim's values and the state-dict resume, not the CPU's bits. Skipped without a GPU; never run. */
@Tag("gpu")
class GoldenDeviceOptimGpuTest extends GoldenDeviceOptimTest {

    @Override
    protected Device device() {
        assumeTrue(Cuda.isAvailable(), "no CUDA device: " + Cuda.unavailableReason());
        return Device.cuda(0);
    }

    @Override
    protected boolean bitwiseWithCpu() {
        return false;
    }
}
