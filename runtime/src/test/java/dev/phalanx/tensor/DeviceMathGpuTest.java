package dev.phalanx.tensor;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;

import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;

/**
 * DeviceMathTest unchanged on {@code cuda:0}, at the GPU's tolerance (1e-4 relative, DESIGN.md's
 * invariant 2: the CUDA kernels use float expf, logf, tanhf where the CPU computes in double).
 * Skipped without a GPU. Written without a GPU: it has never run.
 */
@Tag("gpu")
class DeviceMathGpuTest extends DeviceMathTest {

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

    @Override
    protected boolean transcendentalsBitwise() {
        return false;
    }
}
