package dev.phalanx.parallel.cluster;

import java.util.List;

import dev.phalanx.kernels.Device;

/**
 * Where a cluster's GPU nodes get their communicator: rank 0 (the coordinator) makes a unique id,
 * the cluster hands it to every node ({@code RingFormed.ncclUniqueId}), and each node joins as
 * its rank. {@link NcclRankGroups} is NCCL's {@code ncclGetUniqueId} / {@code ncclCommInitRank};
 * tests put an in-memory one in its place, so that the id's handout, the ranks and the choice
 * between NCCL and the ring run without a GPU.
 */
public interface RankGroups {

    /** Rank 0's new communicator id: the bytes every rank joins with. */
    byte[] newUniqueId();

    /** Joins the communicator {@code uniqueId} as {@code rank} of {@code ranks}; blocks until every rank has joined. */
    RankGroup join(int rank, int ranks, byte[] uniqueId);

    /** For the start-up line, e.g. NCCL on cuda:0. */
    String describe();

    /** One rank's place in a communicator. */
    interface RankGroup extends AutoCloseable {

        /** The sum over every rank of {@code values}, in every rank the same bits; blocks until every rank has called it for this bucket. */
        float[] allReduceSum(float[] values);

        /** Gives up: a call waiting for a rank that was lost returns with an error (NCCL's {@code ncclCommAbort}). */
        void abort();

        @Override
        void close();
    }

    /**
     * The communicator for a node whose replicas are on {@code devices}: NCCL on the first
     * replica's GPU when every replica is on a GPU, else none (null): the node sums on the ring of
     * data channels, its replicas' buckets staged through the host.
     */
    static RankGroups forDevices(List<Device> devices) {
        if (devices.isEmpty() || !devices.stream().allMatch(Device::isCuda)) return null;
        return new NcclRankGroups(devices.get(0));
    }
}
