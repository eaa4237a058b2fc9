package dev.phalanx.parallel.cluster;

import java.util.List;
import java.util.concurrent.CompletableFuture;

import org.apache.pekko.actor.typed.ActorRef;

/** What the {@link JobLeader} (the coordinator's node) hears: from worker nodes, from the training loop, and from the cluster. */
public sealed interface LeaderCommand {

    /**
     * A node asks to take part; {@code secretDigest}: SHA-256 of its shared secret (empty: none);
     * {@code device}: where its replicas are, as the joined line says it; {@code nccl}: its
     * replicas are on GPUs and it can join an NCCL communicator.
     */
    record Join(String node, int replicas, String device, byte[] secretDigest, String dataHost, int dataPort, boolean nccl,
                ActorRef<NodeCommand> replyTo) implements LeaderCommand, ClusterMessage { }

    /** The digest of the node's copy of the data set, or ({@code error} not empty) why it has none. */
    record DataReady(String node, String digest, String error) implements LeaderCommand, ClusterMessage { }

    /** The node is connected to its right neighbour on the data channel, in the ring of that generation. */
    record RingReady(String node, int generation) implements LeaderCommand, ClusterMessage { }

    /**
     * A node's part of a step: its loss weighted by its share of the batch, or its error;
     * {@code ringFailure}: the error came from the ring (a neighbour lost), not the node's replicas.
     */
    record StepReport(long step, String node, double weightedLoss, String error, long dataBytesSent, boolean ringFailure)
            implements LeaderCommand, ClusterMessage { }

    /** From the training loop: every worker trains on its rows of this batch; the reply sums their weighted losses. */
    record StartStep(long step, int epoch, int batch, int batchSize, List<dev.phalanx.parallel.Shards.Range> workerRows,
                     ActorRef<StepGathered> replyTo) implements LeaderCommand { }

    /**
     * The workers' part of a step: the sum of their weighted losses, or why the step failed; or
     * ({@code lost} not empty) the nodes lost meanwhile, and the rows of the workers that had
     * reported by then: the ring is to be re-formed without the lost nodes.
     */
    record StepGathered(long step, double weightedLoss, String error, List<String> lost, int rowsReported) {
        StepGathered(long step, double weightedLoss, String error) {
            this(step, weightedLoss, error, List.of(), 0);
        }
    }

    /** From the training loop, after nodes were lost: form the ring again from the nodes that remain. */
    record Reform(ActorRef<Reformed> replyTo) implements LeaderCommand { }

    /** The ring is formed again ({@code plan}: the coordinator's right neighbour), or ({@code error} not empty) could not be. */
    record Reformed(JobLeader.RingPlan plan, String error) { }

    /** From the training loop: tell every worker the job is over ({@code reason} empty) or stopped. */
    record Stop(String reason, CompletableFuture<Void> done) implements LeaderCommand { }

    /**
     * From the training loop (a resume): the job's state follows on the data channel in
     * {@code frames} frames; every worker loads it. {@code done} completes when all have.
     */
    record BroadcastState(int frames, long bytes, long id, CompletableFuture<Void> done) implements LeaderCommand { }

    /** A worker has loaded the job's state ({@code error} empty), or why it could not. */
    record StateLoaded(String node, String error) implements LeaderCommand, ClusterMessage { }

    /** The workers did not all load the state in time. */
    record StateDeadline() implements LeaderCommand { }

    /** A node left the cluster, or was downed. */
    record MemberGone(String node, String why) implements LeaderCommand { }

    /** The time for nodes to join has passed. */
    record JoinDeadline() implements LeaderCommand { }

    /** The step has not finished in time. */
    record StepDeadline(long step) implements LeaderCommand { }
}
