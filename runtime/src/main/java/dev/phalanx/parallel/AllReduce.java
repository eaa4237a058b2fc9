package dev.phalanx.parallel;

import java.time.Duration;
import java.util.concurrent.TimeoutException;

/**
 * Sums each gradient bucket over all replicas. Replicas {@link #contribute} buckets as they
 * become ready during backward (the reduction of early buckets overlaps the rest of
 * backward), then {@link #result} waits for the sum. Every replica receives the same sum,
 * computed in replica order, so replicas stay bit-identical.
 *
 * <p>Implementations: host memory for CPU replicas in one process ({@link HostAllReduce});
 * NCCL and a ring over the network are to come, behind this same interface.
 */
public interface AllReduce {

    /** Replica {@code replica} offers its values for {@code bucket} of round {@code step}. The array is not kept. */
    void contribute(long step, int replica, int bucket, float[] values);

    /** The sum over all replicas of {@code bucket} in round {@code step}, waiting at most {@code timeout}. */
    float[] result(long step, int bucket, Duration timeout) throws TimeoutException, InterruptedException;

    /** Drops what {@code replica} contributed to round {@code step} (it will contribute again after a failure). */
    void withdraw(long step, int replica);

    /** Forgets round {@code step} once every replica has read its results. */
    void finish(long step);
}
