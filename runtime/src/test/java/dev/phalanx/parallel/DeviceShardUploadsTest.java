package dev.phalanx.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.DeviceContexts;
import dev.phalanx.kernels.device.SimulatedDevice;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * Each data-parallel replica on a device copies its shard up through two pinned slots on a copy
 * stream of its own while its previous step computes (issue #9, item 1), as {@code BatchUploads}
 * does for one replica: with every replica's copy stream held, a step whose replicas leave out
 * their wait for the copy computes on the stale shards of the step before last, every time (its
 * loss and parameters are the bits of a run fed that batch again); with the wait, the step waits
 * for the held copies and computes on the new shards; no pinned buffer is made per step.
 */
class DeviceShardUploadsTest {

    static final int ROWS = 8, REPLICAS = 2;

    private static List<Tensor[]> batches(int n) {
        Generator gen = new Generator(5);
        List<Tensor[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(new Tensor[] {Tensor.randn(gen, ROWS, 3, 32, 32), Tensor.randint(gen, 0, 10, ROWS)});
        return out;
    }

    /** Leaves out every replica's wait for its shard while {@code skip} is set. */
    private static final class SkipWaits implements ReplicaFaults {
        volatile boolean skip;

        @Override
        public boolean waitsForShardUpload(int replica, long step) {
            return !skip;
        }
    }

    private static DataParallel runtime(Device device, ReplicaFaults faults) {
        return DataParallel.builder(() -> LeNet.cifar(new Generator(7)))
                .devices(java.util.Collections.nCopies(REPLICAS, device))
                .optimizer(p -> new SGD(p, 0.01f, 0.9f))
                .checksumEvery(1)
                .faults(faults)
                .build();
    }

    private static void holdCopies(Device device, boolean hold) {
        DeviceContext c = DeviceContexts.of(device);
        SimulatedDevice sim = (SimulatedDevice) c.api();
        for (int r = 0; r < REPLICAS; r++) {
            if (hold) sim.hold(c.replicaCopyStream(r));
            else sim.release(c.replicaCopyStream(r));
        }
    }

    private record Run(float loss, Map<String, Tensor> state) { }

    /** Steps on the first two batches, then the third {@code third} with the copy streams held and the waits left out or kept. */
    private static Run run(Device device, Tensor[] third, boolean waits) throws Exception {
        List<Tensor[]> b = batches(2);
        SkipWaits faults = new SkipWaits();
        try (DataParallel dp = runtime(device, faults)) {
            for (Tensor[] x : b) dp.step(x[0], x[1]).toCompletableFuture().join();
            holdCopies(device, true);
            faults.skip = !waits;
            float loss;
            try {
                CompletableFuture<Float> step = dp.step(third[0], third[1]).toCompletableFuture();
                if (waits) {
                    Thread.sleep(300);
                    assertFalse(step.isDone(), "with the wait, the step cannot finish while its shards' copies are held");
                    holdCopies(device, false);
                }
                loss = step.get(60, TimeUnit.SECONDS);
            } finally {
                holdCopies(device, false);
            }
            faults.skip = false;
            return new Run(loss, dp.stateDict());
        }
    }

    private static void assertSameBits(Run a, Run b, String what) {
        assertEquals(Float.floatToIntBits(a.loss()), Float.floatToIntBits(b.loss()), what + ": the loss's bits");
        for (String k : a.state().keySet()) assertArrayEquals(a.state().get(k).data(), b.state().get(k).data(), what + ": " + k);
    }

    @Test
    void aStepThatLeavesOutItsWaitComputesOnTheStaleShardsEveryTime() throws Exception {
        List<Tensor[]> b = batches(3);
        Tensor[] fresh = b.get(2), stale = b.get(0); // slot 0 held batch 0, two steps before
        Run skipped = run(Device.sim(71), fresh, false);
        Run fedStale = run(Device.sim(72), stale, true);
        assertSameBits(skipped, fedStale, "the step without its wait, against a run fed batch 0 again");
        Run waited = run(Device.sim(73), fresh, true);
        assertNotEquals(Float.floatToIntBits(waited.loss()), Float.floatToIntBits(skipped.loss()), "the wait gives the new shards");
        // with the wait the new shards, whatever the copy streams' delays: the bits of a run never held
        List<Tensor[]> all = batches(3);
        float loss = 0;
        Map<String, Tensor> state;
        try (DataParallel dp = runtime(Device.sim(74), ReplicaFaults.NONE)) {
            for (Tensor[] x : all) loss = dp.step(x[0], x[1]).toCompletableFuture().join();
            state = dp.stateDict();
        }
        assertSameBits(waited, new Run(loss, state), "the held step with its wait, against a run never held");
    }

    @Test
    void noPinnedBufferIsMadePerStep() {
        Device device = Device.sim(75);
        SimulatedDevice sim = (SimulatedDevice) DeviceContexts.of(device).api();
        try (DataParallel dp = runtime(device, ReplicaFaults.NONE)) {
            List<Tensor[]> b = batches(8);
            int before = sim.mallocHostCalls();
            for (int i = 0; i < 2; i++) dp.step(b.get(i)[0], b.get(i)[1]).toCompletableFuture().join();
            int afterTwo = sim.mallocHostCalls();
            // two pinned slots per replica, made at its first shard (and the context's staging buffer for read-backs, kept)
            org.junit.jupiter.api.Assertions.assertTrue(afterTwo - before >= 2 * REPLICAS, "each replica made its two pinned slots: "
                    + (afterTwo - before) + " mallocHost calls");
            for (int i = 2; i < 8; i++) dp.step(b.get(i)[0], b.get(i)[1]).toCompletableFuture().join();
            assertEquals(afterTwo, sim.mallocHostCalls(), "mallocHost calls over 6 more steps");
        }
    }
}
