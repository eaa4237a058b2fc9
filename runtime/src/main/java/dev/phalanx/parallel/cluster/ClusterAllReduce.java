package dev.phalanx.parallel.cluster;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import dev.phalanx.kernels.reduce.SampleTree;
import dev.phalanx.parallel.AllReduce;

/**
 * All-reduce for the replicas of one node in a cluster: the node's replicas are summed locally
 * first (in replica order), the sum is scaled by the node's share of the batch (each replica
 * weighted its loss by its share of the node's rows), and then summed across nodes by a
 * {@link CrossNodeSum} (the {@link RingAllReduce} on the data channel, or NCCL on GPU nodes) on a
 * thread of its own, bucket after bucket in index order, while backward goes on with the next
 * buckets. Replicas on a device offer their buckets through the host, as with the host
 * all-reduce. Every node takes part in every step, in the same
 * order, so the frames on the data channel need no reordering.
 *
 * <p>The reproducible mode ({@link #contributePieces}): no scaling (the loss scaled each sample
 * by 1/B of the global batch) and no local sum: the node's replicas' sample-tree pieces are
 * pooled, and {@link RingAllReduce#allReduceTree} finishes the tree across the nodes, so that
 * every node holds the bits of one replica that summed the whole batch along the tree.
 *
 * <p>One step at a time: {@link #beginStep} names the cluster-wide step and the node's share
 * before the node's local step starts.
 */
public final class ClusterAllReduce implements AllReduce, AutoCloseable {

    private final int replicas, buckets;
    private CrossNodeSum sums; // replaced when the ring is re-formed (a node lost or joined); guarded by this
    private final Duration timeout;
    private final BlockingQueue<Long> steps = new LinkedBlockingQueue<>();
    private final Thread worker;
    // the step in flight, guarded by this
    private long step = -1;
    private float share;
    private float[][][] parts; // [bucket][replica]
    private int[] arrived;
    private float[][] localSums, results;
    // reproducible mode: [bucket][replica] each replica's tree pieces; [bucket] the node's pooled pieces, once all have offered
    private Map<SampleTree.Block, float[]>[][] pieces;
    private Map<SampleTree.Block, float[]>[] localPieces;
    private int[] lengths;
    private int batch;
    private Throwable failure;
    private boolean aborted, ringBusy;
    private volatile boolean closed;

    /** {@code buckets}: how many gradient buckets each replica offers per step (the same on every node). */
    public ClusterAllReduce(int replicas, int buckets, CrossNodeSum sums, Duration timeout) {
        if (replicas < 1 || buckets < 1) throw new IllegalArgumentException("need >= 1 replica and bucket, got " + replicas + ", " + buckets);
        this.replicas = replicas;
        this.buckets = buckets;
        this.sums = sums;
        this.timeout = timeout;
        this.worker = new Thread(this::runRing, "phalanx-ring");
        worker.setDaemon(true);
        worker.start();
    }

    /** The next local step is cluster-wide step {@code globalStep}; this node holds {@code share} of its batch's rows. */
    public synchronized void beginStep(long globalStep, float share) {
        step = globalStep;
        this.share = share;
        parts = new float[buckets][replicas][];
        arrived = new int[buckets];
        localSums = new float[buckets][];
        results = new float[buckets][];
        pieces = newPieces(buckets, replicas);
        localPieces = newPieces(buckets);
        lengths = new int[buckets];
        failure = null;
        aborted = false;
        steps.add(globalStep);
    }

    /** Whether the step in flight failed on the ring (a neighbour lost, the ring aborted), rather than in this node's replicas. */
    public synchronized boolean ringFailed() {
        return failure != null;
    }

    /**
     * A node was lost: the step in flight fails at once on this node (its replicas get an error
     * rather than wait for sums that will not come), and the ring's thread stops waiting.
     */
    public void abort(String why, TcpDataChannel channel) {
        CrossNodeSum s;
        synchronized (this) {
            aborted = true;
            if (failure == null) failure = new IllegalStateException(why);
            notifyAll();
            s = sums;
        }
        channel.interrupt(why);
        s.abort(why); // NCCL: a sum waiting for the lost node is let go
    }

    /** Waits until the ring's thread has left the aborted step (then the data channel may be drained). */
    public synchronized void awaitIdle(Duration wait) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        while (ringBusy) {
            long left = deadline - System.nanoTime();
            if (left <= 0) throw new TimeoutException("the ring's thread did not leave the aborted step within " + wait.toMillis() + " ms");
            wait(Math.max(1, left / 1_000_000));
        }
    }

    /** The re-formed ring's sums, from the next step on; the earlier ones (idle, or aborted) are closed. */
    public void use(CrossNodeSum next) {
        CrossNodeSum previous;
        synchronized (this) {
            previous = sums;
            sums = next;
        }
        if (previous != next) previous.close();
    }

    /** What sums across the nodes, for the start-up line. */
    public synchronized String describe() {
        return sums.describe();
    }

    @Override
    public void contribute(long localStep, int replica, int bucket, float[] values) {
        float[][] ps;
        synchronized (this) {
            if (parts == null) throw new IllegalStateException("a gradient bucket came before the cluster step began");
            if (parts[bucket][replica] == null) arrived[bucket]++;
            parts[bucket][replica] = values.clone();
            if (arrived[bucket] < replicas) return;
            ps = parts[bucket];
        }
        float[] sum = ps[0].clone(); // in replica order, outside the lock
        for (int k = 1; k < replicas; k++) for (int i = 0; i < sum.length; i++) sum[i] += ps[k][i];
        synchronized (this) {
            float s = share;
            for (int i = 0; i < sum.length; i++) sum[i] *= s;
            localSums[bucket] = sum;
            notifyAll();
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<SampleTree.Block, float[]>[][] newPieces(int buckets, int replicas) {
        return new Map[buckets][replicas];
    }

    @SuppressWarnings("unchecked")
    private static Map<SampleTree.Block, float[]>[] newPieces(int buckets) {
        return new Map[buckets];
    }

    @Override
    public void contributePieces(long localStep, int replica, int bucket, int batch, List<SampleTree.Block> blocks, List<float[]> sums) {
        if (blocks.size() != sums.size()) throw new IllegalArgumentException(blocks.size() + " blocks but " + sums.size() + " sums");
        Map<SampleTree.Block, float[]> mine = new HashMap<>();
        for (int i = 0; i < blocks.size(); i++) mine.put(blocks.get(i), sums.get(i).clone());
        synchronized (this) {
            if (parts == null) throw new IllegalStateException("a gradient bucket came before the cluster step began");
            if (parts[bucket][replica] != null) throw new IllegalStateException("bucket " + bucket + ": replica " + replica + " mixes plain and tree contributions");
            if (pieces[bucket][replica] == null) arrived[bucket]++;
            pieces[bucket][replica] = mine;
            this.batch = batch;
            if (!sums.isEmpty()) lengths[bucket] = sums.get(0).length;
            if (arrived[bucket] < replicas) return;
            Map<SampleTree.Block, float[]> pooled = new HashMap<>(); // the node's rows: its replicas' pieces side by side
            for (int k = 0; k < replicas; k++) {
                if (pieces[bucket][k] == null) throw new IllegalStateException("bucket " + bucket + ": replica " + k + " offered plain values, the others tree pieces");
                pooled.putAll(pieces[bucket][k]);
            }
            if (pooled.isEmpty()) throw new IllegalStateException("bucket " + bucket + ": none of this node's replicas had rows; every node needs some");
            localPieces[bucket] = pooled;
            notifyAll();
        }
    }

    @Override
    public synchronized float[] result(long localStep, int bucket, Duration wait) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        while (results == null || results[bucket] == null) {
            if (failure != null) throw new IllegalStateException("the all-reduce across the nodes failed: " + failure.getMessage(), failure);
            long left = deadline - System.nanoTime();
            if (left <= 0) throw new TimeoutException("the all-reduce across the nodes of bucket " + bucket + " in step " + step + " timed out after " + wait.toMillis() + " ms");
            wait(Math.max(1, left / 1_000_000));
        }
        return results[bucket];
    }

    @Override
    public synchronized void withdraw(long localStep, int replica) {
        if (parts == null) return;
        for (int b = 0; b < buckets; b++) {
            if (localSums[b] == null && parts[b][replica] != null) { // a bucket already on the ring cannot be taken back
                parts[b][replica] = null;
                arrived[b]--;
            }
            if (localPieces[b] == null && pieces[b][replica] != null) {
                pieces[b][replica] = null;
                arrived[b]--;
            }
        }
    }

    @Override
    public void finish(long localStep) { }

    private void runRing() {
        while (!closed) {
            long s;
            try {
                Long next = steps.poll(1, TimeUnit.SECONDS);
                if (next == null) continue;
                s = next;
            } catch (InterruptedException e) {
                return;
            }
            CrossNodeSum r;
            synchronized (this) {
                ringBusy = true;
                r = sums;
            }
            try {
                for (int b = 0; b < buckets; b++) {
                    float[] local;
                    Map<SampleTree.Block, float[]> tree;
                    int treeBatch, length;
                    synchronized (this) {
                        long deadline = System.nanoTime() + timeout.toNanos();
                        while (localSums[b] == null && localPieces[b] == null && step == s && !aborted) {
                            long left = deadline - System.nanoTime();
                            if (left <= 0) throw new TimeoutException("this node's replicas did not offer bucket " + b + " of step " + s);
                            wait(Math.max(1, left / 1_000_000));
                        }
                        if (step != s) break;
                        if (aborted) throw new IllegalStateException(String.valueOf(failure.getMessage()));
                        local = localSums[b];
                        tree = localPieces[b];
                        treeBatch = batch;
                        length = lengths[b];
                    }
                    float[] sum = tree != null ? r.allReduceTree(s, b, treeBatch, tree, length, timeout) : r.allReduce(s, b, local.clone(), timeout);
                    synchronized (this) {
                        if (step == s) {
                            results[b] = sum;
                            notifyAll();
                        }
                    }
                }
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                synchronized (this) {
                    if (step == s && failure == null) {
                        failure = e;
                        notifyAll();
                    }
                }
            } finally {
                synchronized (this) {
                    ringBusy = false;
                    notifyAll();
                }
            }
        }
    }

    /** Stops the ring's thread; a replica still waiting for a sum gets an error rather than waiting out its timeout. */
    @Override
    public void close() {
        closed = true;
        worker.interrupt();
        CrossNodeSum s;
        synchronized (this) {
            if (failure == null) failure = new IllegalStateException("the cluster job is stopping");
            notifyAll();
            s = sums;
        }
        s.close();
    }
}
