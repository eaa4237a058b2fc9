package dev.phalanx.parallel;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeoutException;

import dev.phalanx.kernels.reduce.SampleTree;

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

    /**
     * Reproducible mode (issue #13): replica {@code replica} offers, for {@code bucket}, the sums of
     * the sample tree's pieces {@code blocks} of a batch of {@code batch} samples (one array of
     * the bucket's size per block; none for a replica without rows). The result is then
     * {@link SampleTree#combine}: the tree's order, never the arrival order. The arrays are not kept.
     */
    default void contributePieces(long step, int replica, int bucket, int batch, List<SampleTree.Block> blocks, List<float[]> sums) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not keep the sample tree: the reproducible mode needs an all-reduce that does");
    }

    /** The sum over all replicas of {@code bucket} in round {@code step}, waiting at most {@code timeout}. */
    float[] result(long step, int bucket, Duration timeout) throws TimeoutException, InterruptedException;

    /** Drops what {@code replica} contributed to round {@code step} (it will contribute again after a failure). */
    void withdraw(long step, int replica);

    /** Forgets round {@code step} once every replica has read its results. */
    void finish(long step);
}
