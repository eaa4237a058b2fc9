package dev.phalanx;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;

import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;

/** DeviceLeNetTest on {@code cuda:0} at 1e-4 relative. Skipped without a GPU; written without one: it has never run. */
@Tag("gpu")
class DeviceLeNetGpuTest extends DeviceLeNetTest {

    @Override
    protected Device device() {
        assumeTrue(Cuda.isAvailable(), "no CUDA device: " + Cuda.unavailableReason());
        return Device.cuda(0);
    }

    @Override
    protected double rtol() {
        return 1e-4;
    }

    @Override
    protected double atol() {
        return 1e-6;
    }
}
