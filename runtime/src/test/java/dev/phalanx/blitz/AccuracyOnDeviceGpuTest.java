package dev.phalanx.blitz;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;

import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;

/**
 * AccuracyOnDeviceTest on {@code cuda:0}: the blitz's evaluation with the network on the GPU, the
 * counts equal to the cpu run's (the logits differ from the cpu's by float32 roundings, too little
 * to change a prediction here). Skipped without a GPU. Written without a GPU: it has never run.
 */
@Tag("gpu")
class AccuracyOnDeviceGpuTest extends AccuracyOnDeviceTest {

    @Override
    protected Device device() {
        assumeTrue(Cuda.isAvailable(), "no CUDA device: " + Cuda.unavailableReason());
        return Device.cuda(0);
    }
}
