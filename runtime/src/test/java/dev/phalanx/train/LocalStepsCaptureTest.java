package dev.phalanx.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContexts;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.kernels.device.CachingAllocator;
import dev.phalanx.nn.F;
import dev.phalanx.nn.Linear;
import dev.phalanx.nn.Module;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.nn.Dropout;
import dev.phalanx.optim.Adam;
import dev.phalanx.optim.AdamW;
import dev.phalanx.optim.RMSprop;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.optim.SGD;
import dev.phalanx.parallel.Replica;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * The whole training step captured into one graph and replayed (issue #9, item 5) against the same
 * steps run eagerly: the parameters, the optimizer state and the losses bit for bit, over 20 steps
 * whose 13th batch is smaller (it runs eagerly, between replays); the allocator's reserved memory
 * flat over replays; a learning-rate change at step 10 replayed with no recapture, for SGD, Adam,
 * AdamW and RMSprop (centred too), whose lr and step counts live in device memory; a model with
 * dropout, each replay drawing a new mask from its generator's state on the device. On the
 * simulated device here, on cuda:0 in {@code LocalStepsCaptureGpuTest}.
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
        return runner(graph, LeNet.cifar(new Generator(7)), optimizer, notes);
    }

    LocalSteps runner(boolean graph, Module model, Function<List<Tensor>, Optimizer> optimizer, List<String> notes) {
        return new LocalSteps(model, optimizer::apply, F::crossEntropy, CpuBackend.create(1), false, device(), graph, notes::add);
    }

    static Optimizer sgd(List<Tensor> p) {
        return new SGD(p, 0.01f, 0.9f);
    }

    /** Runs the batches, changing the lr to {@code newLr} before step {@code lrStep} (none when negative); losses read at the end. */
    record Run(float[] losses, Replica.Snapshot state, int replays, String graph, List<String> notes) { }

    Run run(boolean graph, int lrStep, float newLr) {
        return run(graph, LeNet.cifar(new Generator(7)), LocalStepsCaptureTest::sgd, lrStep, newLr);
    }

    Run run(boolean graph, Module model, Function<List<Tensor>, Optimizer> optimizer, int lrStep, float newLr) {
        List<String> notes = new ArrayList<>();
        try (LocalSteps steps = runner(graph, model, optimizer, notes)) {
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

    /** The optimizers whose per-step values (lr, step count, bias corrections) live in device memory. */
    static List<Arguments> optimizers() {
        return List.of(
                Arguments.of("SGD momentum", (Function<List<Tensor>, Optimizer>) LocalStepsCaptureTest::sgd),
                Arguments.of("Adam", (Function<List<Tensor>, Optimizer>) p -> new Adam(p, 1e-3f, 0.9f, 0.999f, 1e-8f, 1e-4f)),
                Arguments.of("AdamW", (Function<List<Tensor>, Optimizer>) p -> new AdamW(p, 1e-3f, 0.9f, 0.99f, 1e-8f, 0.01f)),
                Arguments.of("RMSprop momentum", (Function<List<Tensor>, Optimizer>) p -> new RMSprop(p, 1e-3f, 0.99f, 1e-8f, 0f, 0.5f, false)),
                Arguments.of("RMSprop centred", (Function<List<Tensor>, Optimizer>) p -> new RMSprop(p, 1e-3f, 0.9f, 1e-8f, 1e-4f, 0.3f, true)));
    }

    /**
     * A learning-rate schedule (the lr changed before step 10, as a scheduler would) with each optimizer: the captured run
     * keeps replaying the one graph, which reads the new lr and its advancing step counts in device memory, and gives the
     * eager run's losses, parameters and optimizer state (step counts included) bit for bit.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("optimizers")
    void aLearningRateScheduleIsReplayedWithNoRecaptureAndTheEagerBits(String name, Function<List<Tensor>, Optimizer> optimizer) {
        Run eager = run(false, LeNet.cifar(new Generator(7)), optimizer, 9, 3e-4f);
        Run captured = run(true, LeNet.cifar(new Generator(7)), optimizer, 9, 3e-4f);
        assertEquals("on", captured.graph(), name);
        assertEquals(List.of(), captured.notes(), "the graph stays on through the lr change");
        assertEquals(STEPS - 1 - 1, captured.replays(), "every full batch after the warm-up is a replay, before and after the change");
        assertSameBits(eager, captured);
        assertTrue(eager.losses()[0] != eager.losses()[STEPS - 1], "training moved");
        if (!name.startsWith("SGD")) {
            // the count the device advanced, read back with the state: 20 steps, one per batch (the eager steps' and the replays')
            assertEquals(STEPS, captured.state().optimizer().get("state.0.step").item(), 0f, "state.0.step");
        }
    }

    /** The lr written into device memory by setLr is the one the device kernels use: the device run equals the CPU's, whose lr is the host's. */
    @Test
    void setLrReachesTheDeviceKernels() {
        List<Tensor[]> batches = batches().subList(0, 4);
        float[] onCpu = new float[4], onDevice = new float[4];
        for (boolean dev : new boolean[] {false, true}) {
            Module model = LeNet.cifar(new Generator(7));
            Optimizer opt = new Adam(model.parameters(), 1e-3f);
            if (dev) model.to(device());
            for (int i = 0; i < batches.size(); i++) {
                if (i == 2) opt.setLr(0.05f);
                model.zeroGrad();
                Tensor l = F.crossEntropy(model.forward(dev ? batches.get(i)[0].to(device()) : batches.get(i)[0]),
                        dev ? batches.get(i)[1].to(device()) : batches.get(i)[1]);
                l.backward();
                opt.step();
                (dev ? onDevice : onCpu)[i] = l.item();
            }
        }
        // the simulated device computes as the CPU does; a GPU within the golden tolerance
        for (int i = 0; i < 4; i++) assertEquals(onCpu[i], onDevice[i], Math.abs(onCpu[i]) * 1e-4, "step " + i);
        assertTrue(Math.abs(onCpu[3] - onCpu[2]) > 1e-3, "the larger lr moved the loss");
    }

    @Test
    void theGraphIsOffOnlyForAnOptimizerThatComputesOnTheHostOrWhenAskedAndSaysWhy() {
        try (LocalSteps adam = runner(true, p -> new Adam(p, 1e-3f, 0.9f, 0.999f, 1e-8f, 0f), new ArrayList<>());
             LocalSteps host = runner(true, HostScalarSgd::new, new ArrayList<>());
             LocalSteps off = runner(false, LocalStepsCaptureTest::sgd, new ArrayList<>());
             LocalSteps dropout = runner(true, new WithDropout(), LocalStepsCaptureTest::sgd, new ArrayList<>());
             LocalSteps on = runner(true, LocalStepsCaptureTest::sgd, new ArrayList<>())) {
            assertTrue(adam.describe().contains("CUDA graph on"), adam.describe());
            assertTrue(dropout.describe().contains("CUDA graph on"), dropout.describe());
            assertTrue(host.describe().contains("CUDA graph off: HostScalarSgd computes per-step values on the host"), host.describe());
            assertTrue(off.describe().contains("CUDA graph off (--cuda-graph off)"), off.describe());
            assertTrue(on.describe().contains("CUDA graph on"), on.describe());
        }
    }

    /** An optimizer that does not declare itself capturable (its rule would pass host values per step). */
    static final class HostScalarSgd extends Optimizer {
        HostScalarSgd(List<Tensor> params) {
            super(params, 0.01f);
        }

        @Override
        protected void update(float[] p, float[] g, Map<String, Tensor> st) {
            for (int i = 0; i < p.length; i++) p[i] -= lr * g[i];
        }
    }

    /** A Dropout module between LeNet-sized layers: its mask from its generator's state in device memory. */
    static final class WithDropout extends Module {
        private final Linear fc1, fc2;
        final Dropout dropout;
        final Generator gen = new Generator(5);

        WithDropout() {
            fc1 = register("fc1", new Linear(3 * 32 * 32, 64, new Generator(7)));
            dropout = register("dropout", new Dropout(0.4f, gen));
            fc2 = register("fc2", new Linear(64, 10, new Generator(8)));
        }

        @Override
        public Tensor forward(Tensor x) {
            return fc2.forward(dropout.forward(F.relu(fc1.forward(F.flatten(x, 1)))));
        }
    }

    /**
     * A model with Dropout: captured and replayed, each replay draws a new mask (the generator's offset, advanced on the
     * device, moved past every step's elements), and the masks, losses and parameters are the eager run's bit for bit.
     */
    @Test
    void aModelWithDropoutIsCapturedAndEachReplayDrawsTheEagerRunsNewMask() {
        WithDropout eagerModel = new WithDropout(), capturedModel = new WithDropout();
        Run eager = run(false, eagerModel, LocalStepsCaptureTest::sgd, -1, 0);
        Run captured = run(true, capturedModel, LocalStepsCaptureTest::sgd, -1, 0);
        assertEquals("on", captured.graph());
        assertEquals(List.of(), captured.notes());
        assertEquals(STEPS - 1 - 1, captured.replays());
        assertSameBits(eager, captured);
        long elements = 0;
        for (Tensor[] b : batches()) elements += (long) b[0].size(0) * 64;
        for (WithDropout m : new WithDropout[] {eagerModel, capturedModel}) {
            long[] rng = m.gen.deviceState(device()).to(Device.CPU).longData();
            assertEquals(elements, rng[1], "the offset moved past every step's draws, replays included");
        }
        // and the masks did change from step to step: a run whose every step draws at one offset differs
        Run repeated = runWithOneMask(new WithDropout());
        assertTrue(!java.util.Arrays.equals(eager.losses(), repeated.losses()), "a new mask each step");
    }

    /** The eager steps with the generator's offset put back to 0 before each: one mask for every step. */
    private Run runWithOneMask(WithDropout model) {
        try (LocalSteps steps = runner(false, model, LocalStepsCaptureTest::sgd, new ArrayList<>())) {
            List<Tensor[]> batches = batches();
            float[] losses = new float[batches.size()];
            for (int i = 0; i < batches.size(); i++) {
                if (i > 0) {
                    Tensor rng = model.gen.deviceState(device());
                    rng.copy_(Tensor.ofLongs(new long[] {rng.to(Device.CPU).longData()[0], 0}, 2));
                }
                losses[i] = steps.step(batches.get(i)[0], batches.get(i)[1]).loss();
            }
            return new Run(losses, steps.snapshot(), steps.replays(), steps.graphState(), List.of());
        }
    }

    /** Dropout called from a forward, not as a module: its generator's state on the device serves it as well. */
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

    @Test
    void dropoutCalledFromAForwardIsCapturedToo() {
        Run eager = run(false, new DropoutInForward(), LocalStepsCaptureTest::sgd, -1, 0);
        Run captured = run(true, new DropoutInForward(), LocalStepsCaptureTest::sgd, -1, 0);
        assertEquals(STEPS - 1 - 1, captured.replays());
        assertEquals(List.of(), captured.notes());
        assertSameBits(eager, captured);
    }

    /** Dropout only from its second forward on: its generator's first draw on the device falls in the capture. */
    static final class DropoutFromTheSecondStep extends Module {
        private final Linear fc;
        private final Generator gen = new Generator(5);
        private int calls;

        DropoutFromTheSecondStep() {
            fc = register("fc", new Linear(3 * 32 * 32, 10, new Generator(7)));
        }

        @Override
        public Tensor forward(Tensor x) {
            Tensor h = F.flatten(x, 1);
            return fc.forward(++calls >= 2 ? F.dropout(h, 0.5f, isTraining(), gen) : h);
        }
    }

    /**
     * A generator's first draw on the device made during the capture would copy its seed up, which a capture cannot hold:
     * the capture fails with that reason in one line, and the steps run eagerly, with the eager run's bits.
     */
    @Test
    void aFirstDropoutDrawInsideTheCaptureTurnsTheGraphOffWithTheReason() {
        Run eager = run(false, new DropoutFromTheSecondStep(), LocalStepsCaptureTest::sgd, -1, 0);
        Run captured = run(true, new DropoutFromTheSecondStep(), LocalStepsCaptureTest::sgd, -1, 0);
        assertEquals(0, captured.replays());
        assertEquals(1, captured.notes().size(), captured.notes().toString());
        assertTrue(captured.notes().get(0).contains("could not be captured (dropout on " + device() + " draws from a generator with no state "
                + "on the device yet"), captured.notes().get(0));
        assertSameBits(eager, captured);
    }
}
