package dev.phalanx.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContexts;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.kernels.device.CachingAllocator;
import dev.phalanx.nn.F;
import dev.phalanx.nn.Linear;
import dev.phalanx.nn.Module;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.Adam;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.optim.SGD;
import dev.phalanx.parallel.Replica;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * The whole training step captured into one graph and replayed (issue #9, item 5) against the same
 * steps run eagerly: the parameters, the optimizer state and the losses bit for bit, over 20 steps
 * whose 13th batch is smaller (it runs eagerly, between replays); the allocator's reserved memory
 * flat over replays; a learning-rate change honoured. On the simulated device here, on cuda:0 in
 * {@code LocalStepsCaptureGpuTest}.
 */
class LocalStepsCaptureTest {

    static final int ROWS = 8;
    /** 12 full batches, one of 5 rows (an epoch's last), 7 full ones again. */
    static final int STEPS = 20, SMALL = 12;

    protected Device device() {
        return Device.sim(34);
    }

    static List<Tensor[]> batches() {
        Generator gen = new Generator(11);
        List<Tensor[]> out = new ArrayList<>();
        for (int i = 0; i < STEPS; i++) {
            int rows = i == SMALL ? 5 : ROWS;
            out.add(new Tensor[] {Tensor.randn(gen, rows, 3, 32, 32), Tensor.randint(gen, 0, 10, rows)});
        }
        return out;
    }

    LocalSteps runner(boolean graph, Function<List<Tensor>, Optimizer> optimizer, List<String> notes) {
        return new LocalSteps(LeNet.cifar(new Generator(7)), optimizer::apply, F::crossEntropy, CpuBackend.create(1), false, device(), graph,
                notes::add);
    }

    static Optimizer sgd(List<Tensor> p) {
        return new SGD(p, 0.01f, 0.9f);
    }

    /** Runs the batches, changing the lr to {@code newLr} before step {@code lrStep} (none when negative); losses read at the end. */
    record Run(float[] losses, Replica.Snapshot state, int replays, String graph, List<String> notes) { }

    Run run(boolean graph, int lrStep, float newLr) {
        List<String> notes = new ArrayList<>();
        try (LocalSteps steps = runner(graph, LocalStepsCaptureTest::sgd, notes)) {
            List<StepRunner.Result> results = new ArrayList<>();
            List<Tensor[]> batches = batches();
            for (int i = 0; i < batches.size(); i++) {
                if (i == lrStep) steps.optimizer().setLr(newLr);
                results.add(steps.step(batches.get(i)[0], batches.get(i)[1]));
            }
            float[] losses = new float[results.size()];
            for (int i = 0; i < losses.length; i++) losses[i] = results.get(i).loss();
            return new Run(losses, steps.snapshot(), steps.replays(), steps.graphState(), notes);
        }
    }

    static void assertSameBits(Run eager, Run captured) {
        for (int i = 0; i < eager.losses().length; i++) {
            assertEquals(Float.floatToRawIntBits(eager.losses()[i]), Float.floatToRawIntBits(captured.losses()[i]),
                    "step " + i + ": " + captured.losses()[i] + " against the eager " + eager.losses()[i]);
        }
        assertSameBits(eager.state().model(), captured.state().model(), "parameter");
        assertSameBits(eager.state().optimizer(), captured.state().optimizer(), "optimizer state");
    }

    private static void assertSameBits(Map<String, Tensor> a, Map<String, Tensor> b, String what) {
        assertEquals(a.keySet(), b.keySet());
        for (String k : a.keySet()) assertArrayEquals(a.get(k).contiguousFloats(), b.get(k).contiguousFloats(), what + " " + k);
    }

    @Test
    void capturedStepsReplayedGiveTheEagerStepsBitsWithAnUnevenBatchBetween() {
        Run eager = run(false, -1, 0);
        Run captured = run(true, -1, 0);
        assertEquals("on", captured.graph());
        // 19 full batches: the first a warm-up, the second captured and replayed, every later one replayed
        assertEquals(STEPS - 1 - 1, captured.replays(), "every full batch after the warm-up is a replay");
        assertEquals(0, eager.replays());
        assertSameBits(eager, captured);
        assertTrue(eager.losses()[0] != eager.losses()[STEPS - 1], "training moved");
    }

    @Test
    void theAllocatorsReservedMemoryStaysFlatOverReplays() {
        CachingAllocator allocator = DeviceContexts.of(device()).allocator();
        List<Tensor[]> batches = batches();
        try (LocalSteps steps = runner(true, LocalStepsCaptureTest::sgd, new ArrayList<>())) {
            for (int i = 0; i < 4; i++) steps.step(batches.get(i)[0], batches.get(i)[1]).loss();
            long reserved = allocator.memoryReserved();
            int mallocs = allocator.deviceMallocs();
            int replays = steps.replays();
            for (int i = 4; i < SMALL; i++) steps.step(batches.get(i)[0], batches.get(i)[1]);
            steps.step(batches.get(SMALL - 1)[0], batches.get(SMALL - 1)[1]).loss();
            assertEquals(SMALL - 4 + 1, steps.replays() - replays, "these were replays");
            assertEquals(reserved, allocator.memoryReserved(), "no memory reserved by replays");
            assertEquals(mallocs, allocator.deviceMallocs(), "no device malloc by replays");
        }
    }

    @Test
    void aLearningRateChangeIsHonouredByTurningTheGraphOffWithOneLine() {
        Run eager = run(false, 9, 0.003f);
        Run captured = run(true, 9, 0.003f);
        assertSameBits(eager, captured);
        assertEquals(1, captured.notes().size(), captured.notes().toString());
        assertTrue(captured.notes().get(0).startsWith("CUDA graph off from step 10: the learning rate changed from 0.01 to 0.003"),
                captured.notes().get(0));
        assertEquals(9 - 1, captured.replays(), "steps 2 to 9 were replays, the later ones eager");
    }

    @Test
    void theGraphIsOffWhereAReplayWouldRepeatHostValuesOrWhenAskedAndSaysWhy() {
        try (LocalSteps adam = runner(true, p -> new Adam(p, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f), new ArrayList<>());
             LocalSteps off = runner(false, LocalStepsCaptureTest::sgd, new ArrayList<>());
             LocalSteps on = runner(true, LocalStepsCaptureTest::sgd, new ArrayList<>())) {
            assertTrue(adam.describe().contains("CUDA graph off: Adam keeps its step count on the host"), adam.describe());
            assertTrue(off.describe().contains("CUDA graph off (--cuda-graph off)"), off.describe());
            assertTrue(on.describe().contains("CUDA graph on"), on.describe());
        }
    }

    /** Dropout called from a forward, not as a module: the start-up check cannot see it; the capture itself refuses it. */
    static final class DropoutInForward extends Module {
        private final Linear fc;
        private final Generator gen = new Generator(5);

        DropoutInForward() {
            fc = register("fc", new Linear(3 * 32 * 32, 10, new Generator(7)));
        }

        @Override
        public Tensor forward(Tensor x) {
            return fc.forward(F.dropout(F.flatten(x, 1), 0.5f, isTraining(), gen));
        }
    }

    Run runDropoutInForward(boolean graph) {
        List<String> notes = new ArrayList<>();
        try (LocalSteps steps = new LocalSteps(new DropoutInForward(), LocalStepsCaptureTest::sgd, F::crossEntropy, CpuBackend.create(1), false,
                device(), graph, notes::add)) {
            List<Float> losses = new ArrayList<>();
            for (Tensor[] b : batches().subList(0, 6)) losses.add(steps.step(b[0], b[1]).loss());
            float[] l = new float[losses.size()];
            for (int i = 0; i < l.length; i++) l[i] = losses.get(i);
            return new Run(l, steps.snapshot(), steps.replays(), steps.graphState(), notes);
        }
    }

    @Test
    void dropoutInAForwardMakesTheCaptureFailWithTheReasonAndTheStepsRunEagerlyWithTheirOwnMasks() {
        Run eager = runDropoutInForward(false);
        Run captured = runDropoutInForward(true);
        assertEquals(0, captured.replays(), "a replay would have repeated one dropout mask");
        assertEquals(1, captured.notes().size(), captured.notes().toString());
        assertTrue(captured.notes().get(0).contains("could not be captured (dropout on " + device() + " draws its seed on the host"),
                captured.notes().get(0));
        assertSameBits(eager, captured);
    }
}
