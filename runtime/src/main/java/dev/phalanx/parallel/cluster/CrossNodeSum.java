package dev.phalanx.parallel.cluster;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeoutException;

import dev.phalanx.kernels.reduce.SampleTree;

/**
 * The sum over the nodes of a gradient bucket that each node has already summed over its own
 * replicas ({@link ClusterAllReduce}): on the ring of data channels ({@link RingAllReduce}), or
 * by NCCL when the job's nodes compute on GPUs ({@link NcclNodeSum}). Every node calls it for
 * the same buckets in the same order, one at a time, from the all-reduce's own thread.
 */
interface CrossNodeSum extends AutoCloseable {

    /** The sum over all nodes of {@code values} (bucket {@code bucket} of step {@code step}); {@code values} may be overwritten. */
    float[] allReduce(long step, int bucket, float[] values, Duration timeout) throws TimeoutException, InterruptedException;

    /**
     * The reproducible mode's sum along the sample tree ({@link RingAllReduce#allReduceTree}). Only
     * the ring keeps the tree's pieces apart; NCCL sums in an order of its own.
     */
    default float[] allReduceTree(long step, int bucket, int batch, Map<SampleTree.Block, float[]> mine, int length, Duration timeout)
            throws TimeoutException, InterruptedException {
        throw new UnsupportedOperationException("the reproducible mode sums the sample tree on the ring of data channels; " + describe()
                + " cannot keep the tree's order (the reproducible mode runs on the cpu)");
    }

    /** How many nodes take part. */
    int size();

    /** A node was lost: a sum that waits for it gives up. */
    default void abort(String why) { }

    /** For the start-up line: what sums, e.g. the ring on the data channel. */
    String describe();

    @Override
    default void close() { }
}
