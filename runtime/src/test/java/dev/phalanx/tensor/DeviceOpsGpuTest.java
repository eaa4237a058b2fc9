package dev.phalanx.tensor;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;

import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;

/**
 * DeviceOpsTest unchanged on {@code cuda:0}: max, min and their indices, comparisons, conversions,
 * gathers and copies into views, cat, batch norm, dropout (its mask equal to the simulated device's
 * for a seed), against the CPU and finite differences, at the GPU's tolerance (1e-4 relative,
 * DESIGN.md's invariant 2); indices, bools and conversions still bit for bit. Skipped without a
 * GPU. Written without a GPU: it has never run.
 */
@Tag("gpu")
class DeviceOpsGpuTest extends DeviceOpsTest {

    @Override
    protected Device device() {
        assumeTrue(Cuda.isAvailable(), "no CUDA device: " + Cuda.unavailableReason());
        return Device.cuda(0);
    }

    @Override
    protected double atol() {
        return 1e-5;
    }

    @Override
    protected double rtol() {
        return 1e-4;
    }
}
