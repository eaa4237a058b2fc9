package dev.phalanx.parallel;

import org.apache.pekko.actor.typed.ActorRef;

import dev.phalanx.tensor.Tensor;

/** What a {@link Replica} is asked to do. Every answer goes to a collector of {@link ReplicaReply}s. */
public sealed interface ReplicaCommand {

    /**
     * Forward (and, when training, backward) over rows [range) of a batch of {@code batch} rows,
     * which lies at {@code place} in the global batch (the whole of it outside cluster mode).
     */
    record Compute(long step, Tensor inputs, Tensor labels, Shards.Range range, int batch, Coordinator.GlobalRows place, boolean train,
                   ActorRef<ReplicaReply> replyTo) implements ReplicaCommand { }

    /** Take the reduced gradients of step {@code step} and update the parameters. */
    record Apply(long step, boolean checksum, ActorRef<ReplicaReply> replyTo) implements ReplicaCommand { }

    /** Send a copy of the parameters and optimizer state. */
    record TakeSnapshot(ActorRef<ReplicaReply> replyTo) implements ReplicaCommand { }

    /**
     * Load a snapshot: the initial parameters, a checkpoint, or (with {@code restart}) a healthy
     * replica's state after this one failed, when the model and optimizer are rebuilt first.
     */
    record Restore(Replica.Snapshot snapshot, boolean restart, ActorRef<ReplicaReply> replyTo) implements ReplicaCommand { }
}
