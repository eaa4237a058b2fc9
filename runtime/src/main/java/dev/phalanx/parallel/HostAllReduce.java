package dev.phalanx.parallel;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;

import dev.phalanx.kernels.reduce.SampleTree;

/**
 * All-reduce in host memory for replicas that share one JVM. The last contribution to a
 * bucket triggers its sum, on that replica's thread, while the other replicas go on with
 * backward. Sums are taken in replica order, so the result does not depend on who came last.
 * Buckets are created as they are first offered: the number is the replicas' business. In the
 * reproducible mode replicas offer sample-tree pieces instead, and the sum is the tree's.
 */
public final class HostAllReduce implements AllReduce {

    private final int replicas;
    private final Map<Long, Map<Integer, Bucket>> rounds = new HashMap<>();

    public HostAllReduce(int replicas) {
        if (replicas < 1) throw new IllegalArgumentException("need >= 1 replica, got " + replicas);
        this.replicas = replicas;
    }

    /** One bucket of one round: what each replica offered, and the sum once all have. */
    private final class Bucket {
        float[][] parts = new float[replicas][];
        @SuppressWarnings("unchecked")
        Map<SampleTree.Block, float[]>[] pieces = new Map[replicas]; // reproducible mode: each replica's tree pieces
        int batch;
        int arrived;
        float[] sum;
    }

    private Bucket bucket(long step, int bucket) {
        return rounds.computeIfAbsent(step, s -> new HashMap<>()).computeIfAbsent(bucket, b -> new Bucket());
    }

    @Override
    public void contribute(long step, int replica, int bucket, float[] values) {
        float[][] parts;
        Bucket b;
        synchronized (this) {
            b = bucket(step, bucket);
            if (b.pieces[replica] != null) throw new IllegalStateException("bucket " + bucket + " of step " + step + ": replica " + replica + " mixes plain and tree contributions");
            if (b.parts[replica] == null) b.arrived++;
            b.parts[replica] = values.clone();
            if (b.arrived < replicas) return;
            parts = b.parts;
        }
        float[] sum = parts[0].clone(); // summed outside the lock: other buckets proceed meanwhile
        for (int k = 1; k < replicas; k++) {
            float[] p = parts[k];
            if (p == null) throw new IllegalStateException("bucket " + bucket + " of step " + step + ": replica " + k + " offered tree pieces, the others plain values");
            if (p.length != sum.length) {
                throw new IllegalStateException("bucket " + bucket + " of step " + step + ": replica " + k + " offered " + p.length
                        + " values, replica 0 " + sum.length + " (replicas hold different models?)");
            }
            for (int i = 0; i < sum.length; i++) sum[i] += p[i];
        }
        synchronized (this) {
            Map<Integer, Bucket> round = rounds.get(step);
            if (round != null && round.get(bucket) == b && b.arrived == replicas && b.parts == parts) {
                b.sum = sum;
                notifyAll();
            }
        }
    }

    @Override
    public void contributePieces(long step, int replica, int bucket, int batch, List<SampleTree.Block> blocks, List<float[]> sums) {
        if (blocks.size() != sums.size()) throw new IllegalArgumentException(blocks.size() + " blocks but " + sums.size() + " sums");
        Map<SampleTree.Block, float[]> mine = new HashMap<>();
        for (int i = 0; i < blocks.size(); i++) mine.put(blocks.get(i), sums.get(i).clone());
        Map<SampleTree.Block, float[]>[] pieces;
        Bucket b;
        synchronized (this) {
            b = bucket(step, bucket);
            if (b.parts[replica] != null) throw new IllegalStateException("bucket " + bucket + " of step " + step + ": replica " + replica + " mixes plain and tree contributions");
            if (b.pieces[replica] == null) b.arrived++;
            b.pieces[replica] = mine;
            b.batch = batch;
            if (b.arrived < replicas) return;
            pieces = b.pieces;
        }
        Map<SampleTree.Block, float[]> all = new HashMap<>(); // combined outside the lock, in the tree's order
        for (int k = 0; k < replicas; k++) {
            if (pieces[k] == null) throw new IllegalStateException("bucket " + bucket + " of step " + step + ": replica " + k + " offered plain values, the others tree pieces");
            all.putAll(pieces[k]);
        }
        float[] sum = SampleTree.combine(batch, all);
        synchronized (this) {
            Map<Integer, Bucket> round = rounds.get(step);
            if (round != null && round.get(bucket) == b && b.arrived == replicas && b.pieces == pieces) {
                b.sum = sum;
                notifyAll();
            }
        }
    }

    @Override
    public synchronized float[] result(long step, int bucket, Duration timeout) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Bucket b = bucket(step, bucket);
            if (b.sum != null) return b.sum;
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                StringBuilder missing = new StringBuilder();
                for (int k = 0; k < replicas; k++) if (b.parts[k] == null && b.pieces[k] == null) missing.append(missing.length() > 0 ? ", " : "").append(k);
                throw new TimeoutException("all-reduce of bucket " + bucket + " in step " + step + " timed out after " + timeout.toMillis()
                        + " ms waiting for replica(s) " + missing);
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }

    @Override
    public synchronized void withdraw(long step, int replica) {
        Map<Integer, Bucket> round = rounds.get(step);
        if (round == null) return;
        for (Bucket b : round.values()) {
            if (b.parts[replica] != null || b.pieces[replica] != null) {
                b.parts = b.parts.clone(); // a sum in flight for the old parts is discarded
                b.parts[replica] = null;
                b.pieces = b.pieces.clone();
                b.pieces[replica] = null;
                b.arrived--;
                b.sum = null;
            }
        }
    }

    @Override
    public synchronized void finish(long step) {
        rounds.remove(step);
    }
}
