package dev.phalanx.parallel;

import dev.phalanx.autograd.Reproducible;
import dev.phalanx.tensor.Tensor;

/**
 * What replicas answer, and what the actors that gather those answers hear: a {@link StepRun}
 * (one step, scatter and gather) or a {@link StateGather} (snapshots, loads).
 */
public sealed interface ReplicaReply {

    /**
     * {@code nanos}: the replica's forward and backward, bucket hand-offs included.
     * {@code lossTree}: in the reproducible mode, the shard's part of the loss along the sample
     * tree (null otherwise, and for a replica without rows).
     */
    record ShardComputed(long step, int replica, float weightedLoss, Reproducible.LossTree lossTree, Tensor outputs, long nanos)
            implements ReplicaReply { }

    /** {@code computing}: failed in the first phase (nothing changed yet), or while applying. */
    record ShardFailed(long step, int replica, Throwable error, boolean computing) implements ReplicaReply { }

    /** {@code waitNanos}: waiting for the all-reduce's sums; {@code stepNanos}: the optimizer update. */
    record Applied(long step, int replica, long checksum, long waitNanos, long stepNanos) implements ReplicaReply { }

    record SnapshotTaken(int replica, Replica.Snapshot snapshot) implements ReplicaReply { }

    /** {@code error}: null when the snapshot was loaded. */
    record Restored(int replica, Throwable error) implements ReplicaReply { }

    /** The collector's own deadline (a timer), not a replica's answer. */
    record DeadlinePassed(long step) implements ReplicaReply { }
}
