package dev.phalanx.parallel.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.Device;

/**
 * Which sum across the nodes a node takes: NCCL only where every replica is on a GPU and the
 * coordinator handed out a communicator's id, else the ring; and {@link NcclNodeSum} joins as
 * the rank it was given, waits a bounded time for the others, and lets go when a node is lost.
 */
class CrossNodeSumTest {

    private static final Duration SHORT = Duration.ofMillis(300), LONG = Duration.ofSeconds(60);

    @Test
    void ncclOnlyWhereEveryReplicaIsOnAGpu() {
        assertNull(RankGroups.forDevices(List.of(Device.CPU)));
        assertNull(RankGroups.forDevices(List.of(Device.sim(0))), "the simulated device has no NCCL");
        assertNull(RankGroups.forDevices(List.of(Device.cuda(0), Device.CPU)), "a node with a cpu replica sums on the host, then the ring");
        RankGroups g = RankGroups.forDevices(List.of(Device.cuda(1), Device.cuda(0)));
        NcclRankGroups nccl = assertInstanceOf(NcclRankGroups.class, g);
        assertEquals(Device.cuda(1), nccl.device(), "the rank lives on the node's first replica's GPU");
        assertEquals("NCCL on cuda:1", g.describe());
    }

    @Test
    void theRingUnlessTheCoordinatorHandedOutAnId() {
        InMemoryRankGroups hub = new InMemoryRankGroups();
        CrossNodeSum ring = ClusterJob.crossNodeSum(1, 3, new byte[0], hub.forNode("a"), null);
        assertInstanceOf(RingAllReduce.class, ring, "no id: the ring, even on a node that could join NCCL");
        assertEquals(3, ring.size());
        byte[] id = hub.forNode("coordinator").newUniqueId();
        CrossNodeSum nccl = ClusterJob.crossNodeSum(2, 3, id, hub.forNode("b"), null);
        assertEquals(2, assertInstanceOf(NcclNodeSum.class, nccl).rank());
        assertEquals("in-memory communicator, rank 2 of 3", nccl.describe());
        nccl.close();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> ClusterJob.crossNodeSum(1, 3, id, null, null));
        assertTrue(e.getMessage().contains("sums the gradients with NCCL, but this node's replicas are not on GPUs"), e.getMessage());
        UnsupportedOperationException tree = assertThrows(UnsupportedOperationException.class,
                () -> ClusterJob.crossNodeSum(0, 1, hub.forNode("c").newUniqueId(), hub.forNode("c"), null).allReduceTree(1, 0, 2, java.util.Map.of(), 4, SHORT));
        assertTrue(tree.getMessage().contains("reproducible mode"), tree.getMessage());
    }

    @Test
    void everyRankGetsTheSumInRankOrderOnceAllHaveJoined() throws Exception {
        InMemoryRankGroups hub = new InMemoryRankGroups();
        byte[] id = hub.forNode("n0").newUniqueId();
        int n = 3;
        List<NcclNodeSum> ranks = new ArrayList<>();
        for (int r = 0; r < n; r++) ranks.add(new NcclNodeSum(hub.forNode("n" + r), r, n, id));
        List<CompletableFuture<float[]>> sums = new ArrayList<>();
        for (int r = 0; r < n; r++) {
            NcclNodeSum s = ranks.get(r);
            float[] mine = {r + 1, 10 * (r + 1)};
            sums.add(CompletableFuture.supplyAsync(() -> {
                try {
                    return s.allReduce(1, 0, mine, LONG);
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }));
        }
        for (CompletableFuture<float[]> f : sums) assertArrayEquals(new float[] {6, 60}, f.get(60, TimeUnit.SECONDS));
        for (int r = 0; r < n; r++) {
            assertEquals(1, hub.sums(hub.made.get(0).id(), r));
            assertTrue(hub.joined.contains(new InMemoryRankGroups.Joined("n" + r, r, n, hub.made.get(0).id())), hub.joined.toString());
        }
        for (NcclNodeSum s : ranks) s.close();
    }

    @Test
    void aRankThatNeverJoinsFailsTheSumInBoundedTime() {
        InMemoryRankGroups hub = new InMemoryRankGroups();
        byte[] id = hub.forNode("n0").newUniqueId();
        NcclNodeSum alone = new NcclNodeSum(hub.forNode("n0"), 0, 2, id); // rank 1 never comes
        long t0 = System.nanoTime();
        TimeoutException e = assertThrows(TimeoutException.class, () -> alone.allReduce(1, 0, new float[] {1}, SHORT));
        assertTrue(e.getMessage().contains("rank 0 of 2") && e.getMessage().contains("did not form"), e.getMessage());
        assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(30), "bounded by the timeout");
        alone.close(); // the joining thread is let go: the late communicator is aborted
    }

    @Test
    void abortingLetsGoOfASumThatWaitsForALostRank() throws Exception {
        InMemoryRankGroups hub = new InMemoryRankGroups();
        byte[] id = hub.forNode("n0").newUniqueId();
        NcclNodeSum r0 = new NcclNodeSum(hub.forNode("n0"), 0, 2, id), r1 = new NcclNodeSum(hub.forNode("n1"), 1, 2, id);
        assertArrayEquals(new float[] {3}, sumBoth(r0, r1, 1, 2)); // both joined
        CompletableFuture<float[]> waiting = CompletableFuture.supplyAsync(() -> { // rank 1 is lost: it never offers its part
            try {
                return r0.allReduce(2, 0, new float[] {1}, LONG);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        Thread.sleep(200);
        assertTrue(!waiting.isDone());
        r0.abort("node n1 lost");
        java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class, () -> waiting.get(30, TimeUnit.SECONDS));
        assertTrue(String.valueOf(e.getCause().getMessage()).contains("aborted"), e.toString());
        assertThrows(IllegalStateException.class, () -> r0.allReduce(3, 0, new float[] {1}, SHORT), "an aborted communicator sums no more");
        r0.close();
        r1.close();
    }

    private static float[] sumBoth(NcclNodeSum a, NcclNodeSum b, float x, float y) throws Exception {
        CompletableFuture<float[]> fb = CompletableFuture.supplyAsync(() -> {
            try {
                return b.allReduce(1, 0, new float[] {y}, LONG);
            } catch (Exception e) {
                throw new java.util.concurrent.CompletionException(e);
            }
        });
        float[] got = a.allReduce(1, 0, new float[] {x}, LONG);
        assertArrayEquals(got, fb.get(60, TimeUnit.SECONDS));
        return got;
    }
}
