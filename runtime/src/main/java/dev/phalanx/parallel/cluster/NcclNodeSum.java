package dev.phalanx.parallel.cluster;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The sum over the nodes by a communicator of {@link RankGroups} (NCCL on GPU nodes) instead of
 * the ring of data channels. Joining blocks until every rank has joined ({@code ncclCommInitRank}
 * has no timeout of its own), so it runs on a thread of its own from the moment the ring's
 * generation is known, while the nodes go on connecting their data channels; the first sum waits
 * for it, at most its timeout, and a node that never joins fails the step with a message rather
 * than a hang.
 */
final class NcclNodeSum implements CrossNodeSum {

    private final int rank, size;
    private final String what;
    private final CompletableFuture<RankGroups.RankGroup> joined = new CompletableFuture<>();
    private volatile boolean ended; // aborted or closed: a communicator that joins after this is aborted at once
    private volatile boolean summing; // a sum is in flight: closing then aborts instead (NCCL's destroy would wait for it)

    NcclNodeSum(RankGroups groups, int rank, int size, byte[] uniqueId) {
        if (size < 1 || rank < 0 || rank >= size) throw new IllegalArgumentException("rank " + rank + " of " + size);
        this.rank = rank;
        this.size = size;
        this.what = groups.describe() + ", rank " + rank + " of " + size;
        byte[] id = uniqueId.clone();
        Thread t = new Thread(() -> {
            try {
                RankGroups.RankGroup g = groups.join(rank, size, id);
                joined.complete(g);
                if (ended) g.abort();
            } catch (Throwable e) {
                joined.completeExceptionally(e);
            }
        }, "phalanx-rank-" + rank + "-of-" + size + "-joining");
        t.setDaemon(true); // a rank that never comes leaves it waiting in ncclCommInitRank: it must not keep the JVM up
        t.start();
    }

    @Override
    public float[] allReduce(long step, int bucket, float[] values, Duration timeout) throws TimeoutException, InterruptedException {
        RankGroups.RankGroup g;
        try {
            g = joined.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new TimeoutException("the communicator (" + what + ") did not form within " + timeout.toMillis()
                    + " ms: some node did not join it");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            throw new IllegalStateException("joining the communicator (" + what + ") failed: " + c.getMessage(), c);
        }
        if (ended) throw new IllegalStateException("the communicator (" + what + ") was given up");
        summing = true;
        try {
            return g.allReduceSum(values);
        } finally {
            summing = false;
        }
    }

    @Override
    public int size() {
        return size;
    }

    int rank() {
        return rank;
    }

    @Override
    public void abort(String why) {
        ended = true;
        RankGroups.RankGroup g = joinedGroup();
        if (g != null) g.abort();
    }

    /** The communicator once joined; null while joining, or when joining failed. */
    private RankGroups.RankGroup joinedGroup() {
        return joined.isDone() && !joined.isCompletedExceptionally() ? joined.join() : null;
    }

    @Override
    public String describe() {
        return what;
    }

    @Override
    public void close() {
        ended = true;
        RankGroups.RankGroup g = joinedGroup();
        if (g == null) return; // still joining (the joining thread aborts it when it comes), or it never joined
        if (summing) g.abort();
        else g.close();
    }
}
