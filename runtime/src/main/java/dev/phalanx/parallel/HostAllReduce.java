package dev.phalanx.parallel;

import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeoutException;

/**
 * All-reduce in host memory for replicas that share one JVM. The last contribution to a
 * bucket triggers its sum, on that replica's thread, while the other replicas go on with
 * backward. Sums are taken in replica order, so the result does not depend on who came last.
 */
public final class HostAllReduce implements AllReduce {

    private final int replicas;
    private final int buckets;
    private final Map<Long, Round> rounds = new HashMap<>();

    public HostAllReduce(int replicas, int buckets) {
        if (replicas < 1 || buckets < 1) throw new IllegalArgumentException("need >= 1 replica and bucket, got " + replicas + ", " + buckets);
        this.replicas = replicas;
        this.buckets = buckets;
    }

    private final class Round {
        final float[][][] parts = new float[buckets][replicas][];
        final int[] arrived = new int[buckets];
        final float[][] sums = new float[buckets][];
    }

    private synchronized Round round(long step) {
        return rounds.computeIfAbsent(step, s -> new Round());
    }

    @Override
    public void contribute(long step, int replica, int bucket, float[] values) {
        float[][] parts;
        synchronized (this) {
            Round r = round(step);
            if (r.parts[bucket][replica] == null) r.arrived[bucket]++;
            r.parts[bucket][replica] = values.clone();
            if (r.arrived[bucket] < replicas) return;
            parts = r.parts[bucket];
        }
        float[] sum = parts[0].clone(); // summed outside the lock: other buckets proceed meanwhile
        for (int k = 1; k < replicas; k++) {
            float[] p = parts[k];
            for (int i = 0; i < sum.length; i++) sum[i] += p[i];
        }
        synchronized (this) {
            Round r = rounds.get(step);
            if (r != null && r.arrived[bucket] == replicas && r.parts[bucket] == parts) {
                r.sums[bucket] = sum;
                notifyAll();
            }
        }
    }

    @Override
    public synchronized float[] result(long step, int bucket, Duration timeout) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Round r = round(step);
            if (r.sums[bucket] != null) return r.sums[bucket];
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                StringBuilder missing = new StringBuilder();
                for (int k = 0; k < replicas; k++) if (r.parts[bucket][k] == null) missing.append(missing.length() > 0 ? ", " : "").append(k);
                throw new TimeoutException("all-reduce of bucket " + bucket + " in step " + step + " timed out after " + timeout.toMillis()
                        + " ms waiting for replica(s) " + missing);
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }

    @Override
    public synchronized void withdraw(long step, int replica) {
        Round r = rounds.get(step);
        if (r == null) return;
        for (int b = 0; b < buckets; b++) {
            if (r.parts[b][replica] != null) {
                r.parts[b][replica] = null;
                r.arrived[b]--;
                r.parts[b] = r.parts[b].clone(); // a sum in flight for the old parts is discarded
                r.sums[b] = null;
            }
        }
    }

    @Override
    public synchronized void finish(long step) {
        rounds.remove(step);
    }
}
