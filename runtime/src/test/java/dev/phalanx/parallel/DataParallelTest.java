package dev.phalanx.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.Linear;
import dev.phalanx.nn.Module;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * The central invariant: N replicas give the parameters of 1 replica on the same batches,
 * however unevenly the batches split; and the failure paths.
 */
class DataParallelTest {

    private static final int[] BATCHES = {30, 10, 7};
    private static final int STEPS = 20;

    /** Same seeds every call: the batches every configuration trains on. */
    private static List<Tensor[]> batches() {
        Generator gen = new Generator(11);
        List<Tensor[]> out = new ArrayList<>();
        for (int s = 0; s < STEPS; s++) {
            int b = BATCHES[s % BATCHES.length];
            out.add(new Tensor[] {Tensor.randn(gen, b, 3, 32, 32), Tensor.randint(gen, 0, 10, b)});
        }
        return out;
    }

    /** Every configuration starts from these parameters. */
    private static final Map<String, Tensor> INITIAL = LeNet.cifar(new Generator(100)).stateDict();

    private static DataParallel.Builder lenet(int replicas) {
        // each replica builds from a different seed: the given initial state must reach them all
        AtomicInteger seed = new AtomicInteger(200);
        return DataParallel.builder(() -> LeNet.cifar(new Generator(seed.getAndIncrement())))
                .initialState(INITIAL)
                .replicas(replicas)
                .optimizer(p -> new SGD(p, 0.01f, 0.9f))
                .checksumEvery(1)          // replicas compared bit for bit after every step
                .bucketCapFloats(4096);     // several buckets, so reduction overlaps backward
    }

    private static Map<String, Tensor> train(int replicas, List<Float> losses) {
        try (DataParallel dp = lenet(replicas).build()) {
            for (Tensor[] b : batches()) losses.add(dp.step(b[0], b[1]).toCompletableFuture().join());
            List<Map<String, Tensor>> states = dp.replicaStates();
            for (int r = 1; r < states.size(); r++) {
                for (var e : states.get(0).entrySet()) {
                    assertArrayEquals(e.getValue().data(), states.get(r).get(e.getKey()).data(), 0f,
                            "replica " + r + " " + e.getKey() + " is not bit-identical to replica 0");
                }
            }
            return states.get(0);
        }
    }

    /**
     * The bound of one step, from DESIGN.md ("What N replicas share with 1 replica"): the
     * reduced gradients of 1 and N replicas are the same sums grouped differently, so they
     * agree to float32 rounding, per tensor within 1e-5 of its largest element.
     */
    static final double ONE_STEP_GRADIENT_TOLERANCE = 1e-5;
    /** The mean loss of the batch: sums of 10 per-sample losses in another grouping. */
    static final double ONE_STEP_LOSS_TOLERANCE = 1e-6;

    /** Parameters and their reduced gradients after one step, and the step's loss. */
    record OneStep(Map<String, Tensor> params, Map<String, float[]> grads, float loss) { }

    private static OneStep oneStep(int replicas, int batch, CpuBackend.Kernels kernels) {
        Generator gen = new Generator(12 + batch);
        Tensor x = Tensor.randn(gen, batch, 3, 32, 32), y = Tensor.randint(gen, 0, 10, batch);
        // every replica's optimizer sees the same reduced gradients; keep one replica's parameter list
        AtomicReference<List<Tensor>> someReplicasParams = new AtomicReference<>();
        try (DataParallel dp = lenet(replicas).kernels(kernels)
                .optimizer(p -> { someReplicasParams.set(p); return new SGD(p, 0.01f, 0.9f); }).build()) {
            float loss = dp.step(x, y).toCompletableFuture().join();
            Map<String, Tensor> params = dp.stateDict();
            List<String> names = new ArrayList<>(LeNet.cifar(new Generator(0)).namedParameters().keySet());
            Map<String, float[]> grads = new java.util.LinkedHashMap<>();
            List<Tensor> p = someReplicasParams.get();
            for (int i = 0; i < p.size(); i++) grads.put(names.get(i), p.get(i).grad().data().clone());
            return new OneStep(params, grads, loss);
        }
    }

    /** max |a - b| over max |a|, per tensor: the measure DESIGN.md's tolerances are stated in. */
    static double relativeGap(float[] a, float[] b) {
        double diff = 0, scale = 0;
        for (int i = 0; i < a.length; i++) {
            diff = Math.max(diff, Math.abs((double) a[i] - b[i]));
            scale = Math.max(scale, Math.abs(a[i]));
        }
        return diff / Math.max(scale, Float.MIN_NORMAL);
    }

    @ParameterizedTest(name = "{0} replicas, batch {1}, {2} kernels")
    @CsvSource({"2, 30, AUTO", "3, 30, AUTO", "5, 30, AUTO", "8, 30, AUTO", "3, 7, AUTO", "8, 7, AUTO", "3, 30, JAVA", "8, 7, JAVA"})
    void oneStepOfNReplicasGivesTheGradientsAndParametersOfOne(int n, int batch, CpuBackend.Kernels kernels) {
        OneStep one = oneStep(1, batch, kernels), many = oneStep(n, batch, kernels);
        assertEquals(one.loss(), many.loss(), ONE_STEP_LOSS_TOLERANCE * Math.abs(one.loss()), "loss");
        for (var e : one.grads().entrySet()) {
            double gap = relativeGap(e.getValue(), many.grads().get(e.getKey()));
            assertTrue(gap <= ONE_STEP_GRADIENT_TOLERANCE, n + " replicas: gradient of " + e.getKey() + " differs by " + gap + " of its largest element");
        }
        // p1 = p0 - lr * g with equal p0: the parameters differ by lr times the gradients' difference
        for (var e : one.params().entrySet()) {
            float[] a = e.getValue().data(), b = many.params().get(e.getKey()).data();
            float[] g = one.grads().get(e.getKey());
            double gmax = 0;
            for (float v : g) gmax = Math.max(gmax, Math.abs(v));
            for (int i = 0; i < a.length; i++) {
                double bound = 0.01 * ONE_STEP_GRADIENT_TOLERANCE * gmax + Math.ulp(Math.max(Math.abs(a[i]), Math.abs(b[i])));
                assertEquals(a[i], b[i], bound, n + " replicas: " + e.getKey() + "[" + i + "] after one step");
            }
        }
    }

    @Test
    void theTrainingActuallyMovesTheParameters() {
        List<Float> losses = new ArrayList<>();
        Map<String, Tensor> trained = train(2, losses);
        assertTrue(!java.util.Arrays.equals(INITIAL.get("fc3.weight").data(), trained.get("fc3.weight").data()));
        for (float l : losses) assertTrue(Float.isFinite(l) && l > 0, "loss " + l);
    }

    @Test
    void withoutAnInitialStateReplicaZerosParametersAreBroadcast() {
        AtomicInteger seed = new AtomicInteger(300);
        try (DataParallel dp = DataParallel.builder(() -> LeNet.cifar(new Generator(seed.getAndIncrement()))).replicas(3).build()) {
            List<Map<String, Tensor>> states = dp.replicaStates();
            for (int r = 1; r < 3; r++) {
                assertArrayEquals(states.get(0).get("conv1.weight").data(), states.get(r).get("conv1.weight").data(), 0f, "replica " + r);
            }
            assertEquals(303, seed.get(), "the factory is called once per replica, by the replicas alone");
        }
    }

    @Test
    void forwardScattersAndGathersLikeDataParallel() {
        List<int[]> seenShapes = java.util.Collections.synchronizedList(new ArrayList<>());
        Generator gen = new Generator(3);
        Linear reference = new Linear(5, 2, new Generator(7));
        try (DataParallel dp = DataParallel.wrap(() -> new ShapeRecorder(new Linear(5, 2, new Generator(7)), seenShapes), 3)) {
            Tensor x = Tensor.randn(gen, 30, 5);
            Tensor out = dp.forward(x);
            assertArrayEquals(new int[] {30, 2}, out.shape());
            try (var s = GradMode.noGrad()) {
                assertArrayEquals(reference.forward(x).data(), out.data(), 1e-6f);
            }
            List<Integer> rows = seenShapes.stream().map(sh -> sh[0]).sorted().toList();
            assertEquals(List.of(10, 10, 10), rows);
            seenShapes.clear();
            dp.forward(Tensor.randn(gen, 10, 5));
            assertEquals(List.of(2, 4, 4), seenShapes.stream().map(sh -> sh[0]).sorted().toList());
        }
    }

    /** Records the input shape each replica sees, like the blitz's "In Model" prints. */
    static final class ShapeRecorder extends Module {
        private final Linear fc;
        private final List<int[]> seen;

        ShapeRecorder(Linear fc, List<int[]> seen) {
            this.fc = register("fc", fc);
            this.seen = seen;
        }

        @Override
        public Tensor forward(Tensor x) {
            seen.add(x.shape());
            return fc.forward(x);
        }
    }

    @Test
    void aReplicaThatThrowsOnceIsRestartedAndTheRunMatchesAFaultFreeOne() {
        List<Float> clean = new ArrayList<>();
        Map<String, Tensor> expected = train(3, clean);
        ReplicaFaults once = new ReplicaFaults() {
            final AtomicInteger thrown = new AtomicInteger();

            @Override
            public void beforeCompute(int replica, long step) {
                if (replica == 1 && step == 4 && thrown.getAndIncrement() == 0) throw new IllegalStateException("injected fault");
            }
        };
        try (DataParallel dp = lenet(3).faults(once).build()) {
            for (Tensor[] b : batches()) dp.step(b[0], b[1]).toCompletableFuture().join();
            Map<String, Tensor> got = dp.stateDict();
            for (var e : expected.entrySet()) assertArrayEquals(e.getValue().data(), got.get(e.getKey()).data(), 0f, e.getKey());
        }
    }

    @Test
    void aReplicaThatThrowsTwiceFailsTheStepWithItsOwnError() {
        ReplicaFaults always = new ReplicaFaults() {
            @Override
            public void beforeCompute(int replica, long step) {
                if (replica == 2 && step == 2) throw new IllegalStateException("disk on fire");
            }
        };
        try (DataParallel dp = lenet(3).faults(always).build()) {
            List<Tensor[]> bs = batches();
            dp.step(bs.get(0)[0], bs.get(0)[1]).toCompletableFuture().join();
            RuntimeException e = assertThrows(RuntimeException.class, () -> dp.step(bs.get(1)[0], bs.get(1)[1]).toCompletableFuture().join());
            assertInstanceOf(Coordinator.ReplicaFailedException.class, e);
            assertTrue(e.getMessage().contains("replica 2") && e.getMessage().contains("disk on fire")
                    && e.getMessage().contains("step 2"), e.getMessage());
            // the failed step changed nothing; the runtime goes on with the next batch
            assertTrue(Float.isFinite(dp.step(bs.get(2)[0], bs.get(2)[1]).toCompletableFuture().join()));
        }
    }

    @Test
    void aReplicaThatHangsTimesOutWithItsName() {
        ReplicaFaults hang = new ReplicaFaults() {
            @Override
            public void beforeCompute(int replica, long step) throws InterruptedException {
                if (replica == 1 && step == 2) Thread.sleep(5_000); // longer than the timeout; close() then waits for it to end
            }
        };
        try (DataParallel dp = lenet(2).faults(hang).stepTimeout(Duration.ofMillis(2_500)) /* far above a normal step, even cold on a busy CI machine */.build()) {
            List<Tensor[]> bs = batches();
            dp.step(bs.get(0)[0], bs.get(0)[1]).toCompletableFuture().join();
            RuntimeException e = assertThrows(RuntimeException.class, () -> dp.step(bs.get(1)[0], bs.get(1)[1]).toCompletableFuture().join());
            assertInstanceOf(Coordinator.ReplicaTimeoutException.class, e);
            assertEquals("replica 1 (cpu) did not answer within 2500 ms in step 2", e.getMessage());
            RuntimeException after = assertThrows(RuntimeException.class, () -> dp.step(bs.get(2)[0], bs.get(2)[1]).toCompletableFuture().join());
            assertTrue(after.getMessage().contains("cannot take more work"), after.getMessage());
        }
    }

    @Test
    void silentDivergenceIsDetectedAtTheNextChecksum() {
        ReplicaFaults drift = new ReplicaFaults() {
            @Override
            public void afterApply(int replica, long step, Module model) {
                if (replica == 1 && step == 3) {
                    try (var s = GradMode.noGrad()) {
                        model.parameters().get(0).data()[0] += 1e-3f;
                    }
                }
            }
        };
        try (DataParallel dp = lenet(2).faults(drift).checksumEvery(1).build()) {
            List<Tensor[]> bs = batches();
            dp.step(bs.get(0)[0], bs.get(0)[1]).toCompletableFuture().join();
            dp.step(bs.get(1)[0], bs.get(1)[1]).toCompletableFuture().join();
            RuntimeException e = assertThrows(RuntimeException.class, () -> dp.step(bs.get(2)[0], bs.get(2)[1]).toCompletableFuture().join());
            assertInstanceOf(Coordinator.ReplicaDivergenceException.class, e);
            assertTrue(e.getMessage().startsWith("replicas diverged at step 3: replica 0 has parameter checksum"), e.getMessage());
        }
    }

    @Test
    void badBatchesAreAnsweredNotHung() {
        try (DataParallel dp = lenet(2).build()) {
            RuntimeException e = assertThrows(RuntimeException.class,
                    () -> dp.step(Tensor.zeros(4, 3, 32, 32), Tensor.ofLongs(1, 2)).toCompletableFuture().join());
            assertTrue(e.getMessage().contains("one label per row"), e.getMessage());
            RuntimeException wrongShape = assertThrows(RuntimeException.class,
                    () -> dp.step(Tensor.zeros(4, 1, 28, 28), Tensor.ofLongs(1, 2, 3, 4)).toCompletableFuture().join());
            assertInstanceOf(IllegalArgumentException.class, wrongShape, "join() throws the user's error itself, not a wrapper or a replica failure");
            assertEquals("conv2d: Given groups=1, weight of size [6, 3, 5, 5], expected input[2, 1, 28, 28] to have 3 channels, but got 1 channels "
                    + "instead", wrongShape.getMessage());
            // and the runtime is still usable
            assertTrue(Float.isFinite(dp.step(Tensor.zeros(4, 3, 32, 32), Tensor.ofLongs(1, 2, 3, 4)).toCompletableFuture().join()));
        }
    }
}
