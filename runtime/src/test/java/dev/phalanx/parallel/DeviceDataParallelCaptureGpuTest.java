package dev.phalanx.parallel;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;

import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;

/**
 * DeviceDataParallelCaptureTest's equality and memory tests on {@code cuda:0}: 1, 2 and 3 LeNet
 * replicas on one GPU, their whole step captured into one CUDA graph across their streams
 * (thread-local capture begun on replica 0's stream, the others joined through a fork event and
 * joined back before {@code cudaStreamEndCapture}) and replayed for every full batch, give the
 * eager run's losses and parameters bit for bit over 20 steps with an uneven batch eager between
 * replays (the graph replays the very kernels on the very buffers; cuDNN's algorithms are the
 * deterministic ones); the caching allocator's reserved memory and mallocs flat over replays; Adam
 * and dropout captured; a capture CUDA refuses (a join left out: cudaErrorStreamCaptureUnjoined)
 * computed again eagerly, the run going on with the eager bits (so the streams must leave the
 * failed capture usable); a replica restarted after the warm-up. Skipped without a GPU; written
 * without one: it has never run.
 */
@Tag("gpu")
class DeviceDataParallelCaptureGpuTest extends DeviceDataParallelCaptureTest {

    @Override
    protected Device device() {
        assumeTrue(Cuda.isAvailable(), "no CUDA device: " + Cuda.unavailableReason());
        return Device.cuda(0);
    }
}
