package dev.phalanx.parallel;

import java.time.Duration;
import java.util.List;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;

import dev.phalanx.kernels.Device;
import dev.phalanx.tensor.Tensor;

/**
 * The coordinator's protocol: what it is asked, what it answers, and its settings. It drives
 * data-parallel training one step at a time: splits each batch along dimension 0
 * ({@code torch.chunk}), has every replica compute its shard and offer its gradients to the
 * all-reduce, has all replicas apply the reduced gradients, and replies with the batch's loss
 * and the outputs gathered in shard order.
 *
 * <p>Its behaviours, one per state, are in {@link CoordinatorStates} (starting, ready, busy,
 * stopped); each step is a child actor of its own, {@link StepRun}, that scatters the shards
 * and gathers the answers. It never blocks: requests that come during a step are stashed.
 *
 * <p>Failures: a replica that throws is restarted from a healthy replica's state and its shard
 * retried once; a second failure fails the step with the replica's own error. Bad input (an
 * {@code IllegalArgumentException}: wrong shapes, labels) fails the step at once with that
 * error. A step that is not finished within the timeout fails naming the replicas that did not
 * answer, and the runtime refuses further steps. Every {@code checksumEvery} steps the
 * replicas' parameter checksums are compared; a difference fails the step.
 */
public final class Coordinator {

    private Coordinator() { }

    /** Everything the coordinator hears: requests from users, and its children's reports. */
    public sealed interface Command permits TrainStep, Forward, GetStates, LoadState, WorkDone { }

    /**
     * Train on one batch; the reply carries the mean loss over the batch and the gathered outputs.
     * {@code place}: where these rows lie in the global batch (cluster mode: a node's rows of it).
     */
    public record TrainStep(Tensor inputs, Tensor labels, GlobalRows place, ActorRef<StepOutcome> replyTo) implements Command {
        /** The batch is the whole global batch. */
        public TrainStep(Tensor inputs, Tensor labels, ActorRef<StepOutcome> replyTo) {
            this(inputs, labels, null, replyTo);
        }
    }

    /**
     * Rows {@code [offset, offset + rows)} of a global batch of {@code batch} rows: in cluster mode
     * each node trains a part of the batch. The reproducible mode needs it (the sample tree and the
     * 1/B loss scaling are over the global batch); the default mode weights by the local batch, and
     * the cluster's all-reduce scales each node's sum by its share.
     */
    public record GlobalRows(int offset, int batch) {
        public GlobalRows {
            if (offset < 0 || batch < 1 || offset >= batch) throw new IllegalArgumentException("rows from " + offset + " of a batch of " + batch);
        }
    }

    /** Inference: scatter, run, gather, like {@code nn.DataParallel(model)(x)}. */
    public record Forward(Tensor inputs, ActorRef<StepOutcome> replyTo) implements Command { }

    /** Copies of every replica's state (model and optimizer), in replica order. */
    public record GetStates(ActorRef<StatesOutcome> replyTo) implements Command { }

    /** Load one state (model and optimizer) into every replica, e.g. to resume from a checkpoint. */
    public record LoadState(Replica.Snapshot state, ActorRef<StatesOutcome> replyTo) implements Command { }

    /**
     * A child (a step, a state gather) has answered its requester and ended; {@code fatal}: why
     * the runtime can take no more work (a replica stopped answering), or null.
     */
    record WorkDone(String fatal) implements Command { }

    /** The answer to a step or a forward: loss and outputs, or the error; and where the time went. */
    public record StepOutcome(long step, float loss, Tensor outputs, Throwable error, Timing timing) {
        public StepOutcome(long step, float loss, Tensor outputs, Throwable error) {
            this(step, loss, outputs, error, null);
        }

        public boolean ok() {
            return error == null;
        }
    }

    /**
     * One step's time: wall clock at the coordinator, the slowest replica's forward+backward,
     * the slowest optimizer update, and the longest wait for the all-reduce. What is left of
     * the wall time is coordination (messages, scheduling, splitting and gathering).
     */
    public record Timing(long wallNanos, long computeNanos, long optimizerNanos, long reduceWaitNanos) {
        public long outsideComputeNanos() {
            return Math.max(0, wallNanos - computeNanos - optimizerNanos);
        }
    }

    public record StatesOutcome(List<Replica.Snapshot> states, Throwable error) { }

    /**
     * The devices the replicas run on, the step timeout, the checksum period, and the parameters
     * every replica starts from ({@code initial}; null: replica 0's are broadcast).
     */
    public record Settings(List<Device> devices, Duration stepTimeout, int checksumEvery, Replica.Snapshot initial) {
        public Settings(List<Device> devices, Duration stepTimeout, int checksumEvery) {
            this(devices, stepTimeout, checksumEvery, null);
        }

        public Settings {
            if (devices.isEmpty()) throw new IllegalArgumentException("need at least one replica device");
            if (checksumEvery < 0) throw new IllegalArgumentException("checksum period must be >= 0 (0 = never), got " + checksumEvery);
            devices = List.copyOf(devices);
        }

        /** Whether step {@code step} compares the replicas' parameter checksums. */
        boolean checksumAt(long step) {
            return checksumEvery > 0 && step % checksumEvery == 0;
        }
    }

    /** The dispatcher that gives each replica a thread of its own (see reference.conf). */
    public static final String REPLICA_DISPATCHER = "phalanx.replica-dispatcher";

    /**
     * The coordinator with one replica per device of {@code settings}, summing through
     * {@link #allReduceFor} (an embedding service that spawns it keeps a device group's events, or
     * NCCL communicators, for the life of the process).
     */
    public static Behavior<Command> create(ReplicaSpec spec, Settings settings) {
        // the model factory is called by the replicas alone, once each: it may be stateful
        return CoordinatorStates.create(spec, settings, allReduceFor(settings.devices()));
    }

    /**
     * How replicas on {@code devices} sum their gradients: on the device when they all share one
     * (in replica order) or each has a GPU of its own (NCCL), else in host memory
     * ({@link DeviceGroupAllReduce#forDevices}; replicas on a device stage their buckets through the host then).
     */
    public static AllReduce allReduceFor(List<Device> devices) {
        AllReduce onDevice = DeviceGroupAllReduce.forDevices(devices);
        return onDevice != null ? onDevice : new HostAllReduce(devices.size());
    }

    /**
     * The coordinator with its replicas summing through {@code allReduce} (one contribution per
     * replica of {@code settings}): across nodes, for cluster mode.
     */
    public static Behavior<Command> create(ReplicaSpec spec, Settings settings, AllReduce allReduce) {
        return CoordinatorStates.create(spec, settings, allReduce);
    }

    /** A replica's error, after the retry it was allowed. */
    public static final class ReplicaFailedException extends RuntimeException {
        public ReplicaFailedException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** A replica that did not answer in time. */
    public static final class ReplicaTimeoutException extends RuntimeException {
        public ReplicaTimeoutException(String message) {
            super(message);
        }
    }

    /** Replicas whose parameters are no longer bit-identical. */
    public static final class ReplicaDivergenceException extends RuntimeException {
        public ReplicaDivergenceException(String message) {
            super(message);
        }
    }
}
