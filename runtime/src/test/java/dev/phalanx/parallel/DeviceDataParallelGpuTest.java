package dev.phalanx.parallel;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;

import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;

/**
 * DeviceDataParallelTest's replicas on {@code cuda:0} (1, 2 and 3 through DataParallel, each on its
 * own stream, summed on the GPU in replica order) at 1e-4 relative; the other tests, on simulated
 * devices, stay in DeviceDataParallelTest. Skipped without a GPU; written without one: it has never run.
 */
@Tag("gpu")
class DeviceDataParallelGpuTest extends DeviceDataParallelTest {

    @Override
    protected Device device() {
        assumeTrue(Cuda.isAvailable(), "no CUDA device: " + Cuda.unavailableReason());
        return Device.cuda(0);
    }

    @Override
    protected double tolerance() {
        return 1e-4;
    }

    // these run on simulated devices only, in DeviceDataParallelTest: overridden here without @Test, so not run twice

    @Override
    void replicasOnTwoDevicesSumThroughTheHostAndGiveTheParametersOfOne() { }

    @Override
    void theAllReduceIsChosenByWhereTheReplicasAre() { }

    @Override
    void theReproducibleModeOnADeviceIsRefusedByName() { }
}
