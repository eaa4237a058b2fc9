package dev.phalanx.parallel.cluster;

import java.util.Set;

import org.apache.pekko.actor.typed.ActorRef;

/** What a worker node's {@link NodeAgent} hears: from the coordinator's node, and from itself. */
public sealed interface NodeCommand {

    /** The job's recipe (HOCON), sent once the node's secret is checked. */
    record JobRecipe(String recipe) implements NodeCommand, ClusterMessage { }

    /** The node may not take part, and why. */
    record Refused(String reason) implements NodeCommand, ClusterMessage { }

    /**
     * The ring is formed (or formed again, without a lost node or with a new one): this node's rank
     * and where its right neighbour listens; {@code ncclUniqueId}: empty when the ring sums the
     * gradients, else the NCCL communicator's id from rank 0 (the coordinator), with which this
     * node joins as {@code rank} of {@code size}.
     */
    record RingFormed(int rank, int size, String rightHost, int rightPort, int generation, byte[] ncclUniqueId)
            implements NodeCommand, ClusterMessage {
        public RingFormed {
            ncclUniqueId = ncclUniqueId == null ? new byte[0] : ncclUniqueId.clone();
        }

        /** Whether NCCL sums the gradients of this ring's generation. */
        public boolean nccl() {
            return ncclUniqueId.length > 0;
        }

        // by value: a record compares arrays by reference
        @Override
        public boolean equals(Object o) {
            return o instanceof RingFormed r && r.rank == rank && r.size == size && r.rightHost.equals(rightHost) && r.rightPort == rightPort
                    && r.generation == generation && java.util.Arrays.equals(r.ncclUniqueId, ncclUniqueId);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(rank, size, rightHost, rightPort, generation, java.util.Arrays.hashCode(ncclUniqueId));
        }

        @Override
        public String toString() {
            return "RingFormed[rank=" + rank + ", size=" + size + ", right=" + rightHost + ":" + rightPort + ", generation=" + generation
                    + ", ncclUniqueId=" + ncclUniqueId.length + " bytes]";
        }
    }

    /** Train on rows [begin, end) of batch {@code batch} of epoch {@code epoch}, of a batch of {@code batchSize} rows. */
    record RunStep(long step, int epoch, int batch, int begin, int end, int batchSize) implements NodeCommand, ClusterMessage { }

    /** The job's state follows on the data channel in {@code frames} frames of broadcast {@code id}: load it (a resumed job, or a re-formed ring). */
    record LoadState(int frames, long bytes, long id) implements NodeCommand, ClusterMessage { }

    /** This node has taken and loaded the state, or ({@code error} not null) could not. */
    record StateTaken(Throwable error) implements NodeCommand { }

    /** The job is over ({@code reason} empty) or stopped: leave the cluster. */
    record Finish(String reason) implements NodeCommand, ClusterMessage { }

    /** The coordinators the receptionist knows of. */
    record LeadersListed(Set<ActorRef<LeaderCommand>> leaders) implements NodeCommand { }

    /** This node's part of a step is done: its loss weighted by its share, or its error. */
    record LocalStepDone(long step, double weightedLoss, Throwable error) implements NodeCommand { }

    /** This node has joined the re-formed ring (of that generation) as {@code rank} of {@code size}, or ({@code error} not null) could not. */
    record Reformed(int rank, int size, int generation, Throwable error) implements NodeCommand { }

    /** The coordinator's node left or became unreachable. */
    record LeaderGone(String why) implements NodeCommand { }

    /** No coordinator answered in time. */
    record JoinDeadline() implements NodeCommand { }
}
