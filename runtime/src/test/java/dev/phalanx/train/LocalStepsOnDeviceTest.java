package dev.phalanx.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.DeviceContexts;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.kernels.device.SimulatedDevice;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.nn.F;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * One replica on a device ({@link LocalSteps}, the path of {@code phalanx train --device sim|cuda}
 * with one replica), issue #9 item 5: a step is enqueued without waiting for the device, and the
 * losses come back once per log interval.
 */
class LocalStepsOnDeviceTest {

    static final int ROWS = 8;

    static List<Tensor[]> batches(int n, int lastRows) {
        Generator gen = new Generator(11);
        List<Tensor[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int rows = i == n - 1 ? lastRows : ROWS;
            out.add(new Tensor[] {Tensor.randn(gen, rows, 3, 32, 32), Tensor.randint(gen, 0, 10, rows)});
        }
        return out;
    }

    static LocalSteps runner(Device device) {
        return new LocalSteps(LeNet.cifar(new Generator(7)), p -> new SGD(p, 0.01f, 0.9f), F::crossEntropy, CpuBackend.create(1), false, device);
    }

    /** The losses of {@code batches} with each read right after its step: the reference every other way of running must give. */
    static float[] lossesReadEveryStep(Device device, List<Tensor[]> batches) {
        float[] out = new float[batches.size()];
        try (LocalSteps steps = runner(device)) {
            for (int i = 0; i < out.length; i++) out[i] = steps.step(batches.get(i)[0], batches.get(i)[1]).loss();
        }
        return out;
    }

    @Test
    void stepsAreEnqueuedWithoutWaitingForTheDeviceAndTheLossesComeBackOncePerLogInterval() throws Exception {
        Device device = Device.sim(31);
        DeviceContext context = DeviceContexts.of(device);
        SimulatedDevice sim = (SimulatedDevice) context.api();
        Stream compute = context.stream();
        List<Tensor[]> batches = batches(12, ROWS);
        float[] expected = lossesReadEveryStep(device, batches);
        int logEvery = 4;
        try (LocalSteps steps = runner(device)) {
            int waitsBefore = sim.hostWaits(compute);
            List<StepRunner.Result> results = new ArrayList<>();
            // a log interval with the compute stream held: a step that waited for it on the host would never return
            sim.hold(compute);
            try {
                CompletableFuture.runAsync(() -> {
                    for (int i = 0; i < logEvery; i++) results.add(steps.step(batches.get(i)[0], batches.get(i)[1]));
                }).get(30, TimeUnit.SECONDS);
            } finally {
                sim.release(compute);
            }
            for (StepRunner.Result r : results) assertFalse(r.isRead(), "a step's loss stays on the device until asked for");
            assertEquals(0, steps.deviceLossReads());
            for (int i = logEvery; i < batches.size(); i++) {
                results.add(steps.step(batches.get(i)[0], batches.get(i)[1]));
                if ((i + 1) % logEvery == 0) {
                    int reads = steps.deviceLossReads();
                    float last = results.get(i).loss(); // the trainer's log line: every unread loss in one read-back
                    assertEquals(reads + 1, steps.deviceLossReads(), "one read-back per log interval");
                    for (StepRunner.Result r : results) assertTrue(r.isRead());
                    assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(last));
                }
            }
            assertEquals(waitsBefore, sim.hostWaits(compute), "no host synchronisation of the compute stream in " + batches.size() + " steps");
            for (int i = 0; i < expected.length; i++) {
                assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(results.get(i).loss()),
                        "step " + i + ": the loss read later is the loss read at once");
            }
            assertEquals(ROWS, results.get(0).outputs().size(0), "the logits come back when asked for");
            assertEquals(Device.CPU, results.get(0).outputs().device());
        }
    }

    @Test
    void batchesGoThroughTwoPinnedBuffersKeptAcrossSteps() {
        Device device = Device.sim(32);
        SimulatedDevice sim = (SimulatedDevice) DeviceContexts.of(device).api();
        List<Tensor[]> batches = batches(12, 5);
        float[] expected = lossesReadEveryStep(device, batches);
        try (LocalSteps steps = runner(device)) {
            List<StepRunner.Result> results = new ArrayList<>();
            for (int i = 0; i < 2; i++) results.add(steps.step(batches.get(i)[0], batches.get(i)[1]));
            results.get(1).loss(); // the read-back's staging buffer is made here, once
            int pinned = sim.mallocHostCalls();
            for (int i = 2; i < batches.size(); i++) results.add(steps.step(batches.get(i)[0], batches.get(i)[1]));
            for (int i = 0; i < expected.length; i++) {
                assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(results.get(i).loss()), "step " + i);
            }
            assertEquals(pinned, sim.mallocHostCalls(), "no pinned buffer made per step: the two are reused");
            assertEquals(BatchUploads.SLOTS, steps.pinnedBuffers(), "double buffering");
        }
    }

    @Test
    void aStepThatDoesNotWaitForItsUploadComputesOnTheStaleBatchEveryTime() {
        Device device = Device.sim(33);
        DeviceContext context = DeviceContexts.of(device);
        SimulatedDevice sim = (SimulatedDevice) context.api();
        Stream copies = context.copyStream();
        List<Tensor[]> batches = batches(3, ROWS);
        float[] right = lossesReadEveryStep(device, batches);
        // what the third step computes when it reads slot 0 while it still holds the first batch (rows and labels)
        float[] stale = lossesReadEveryStep(device, List.of(batches.get(0), batches.get(1), batches.get(0)));
        assertTrue(right[2] != stale[2], "the stale batch gives another loss");
        for (boolean wait : new boolean[] {true, false}) {
            for (int attempt = 0; attempt < 2; attempt++) {
                try (LocalSteps steps = runner(device)) {
                    steps.step(batches.get(0)[0], batches.get(0)[1]);
                    steps.step(batches.get(1)[0], batches.get(1)[1]);
                    context.synchronize();
                    steps.waitForUploads(wait);
                    sim.hold(copies); // the third batch's copy up cannot run until released
                    StepRunner.Result third;
                    try {
                        third = steps.step(batches.get(2)[0], batches.get(2)[1]);
                        if (!wait) sim.synchronize(context.stream()); // the step ran without its batch
                    } finally {
                        sim.release(copies);
                    }
                    float expected = wait ? right[2] : stale[2];
                    assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(third.loss()),
                            (wait ? "with the wait: the new batch" : "without the wait: the stale batch") + ", attempt " + attempt);
                }
            }
        }
    }
}
