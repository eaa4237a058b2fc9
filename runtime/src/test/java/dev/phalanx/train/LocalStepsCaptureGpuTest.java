package dev.phalanx.train;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;

import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;

/**
 * LocalStepsCaptureTest's equality tests on {@code cuda:0}: 20 LeNet steps with the whole step
 * captured into one CUDA graph and replayed (an uneven batch eager between replays) give the eager
 * steps' losses and parameters bit for bit (the graph replays the very kernels on the very
 * buffers; cuDNN's algorithms are the deterministic ones), with SGD, Adam, AdamW, RMSprop and
 * centred RMSprop through an lr change at step 10 (lr and step counts in device memory), and with
 * dropout (its generator's seed and offset in device memory). The start-up line and the allocator
 * tests stay on the simulated device. Skipped without a GPU; written without one: it has never run.
 */
@Tag("gpu")
class LocalStepsCaptureGpuTest extends LocalStepsCaptureTest {

    @Override
    protected Device device() {
        assumeTrue(Cuda.isAvailable(), "no CUDA device: " + Cuda.unavailableReason());
        return Device.cuda(0);
    }

    // these run on the simulated device only, in LocalStepsCaptureTest: overridden here without @Test, so not run twice

    @Override
    void theAllocatorsReservedMemoryStaysFlatOverReplays() { }

    @Override
    void theGraphIsOffOnlyForAnOptimizerThatComputesOnTheHostOrWhenAskedAndSaysWhy() { }

    @Override
    void aFirstDropoutDrawInsideTheCaptureTurnsTheGraphOffWithTheReason() { }
}
