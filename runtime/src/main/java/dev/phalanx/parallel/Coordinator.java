package dev.phalanx.parallel;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

import dev.phalanx.kernels.Device;
import dev.phalanx.tensor.Tensor;

/**
 * Drives data-parallel training, one step at a time: splits each batch along dimension 0
 * ({@code torch.chunk}), sends each replica its rows, waits until every replica has computed
 * its shard and offered its gradients to the all-reduce, tells all replicas to apply the
 * reduced gradients, and replies with the batch's loss and the outputs gathered in shard
 * order. It never blocks: everything arrives as messages, commands that come during a step
 * are stashed.
 *
 * <p>Failures: a replica that throws is restarted from a healthy replica's state and its shard
 * retried once; a second failure fails the step with the replica's own error. Bad input (an
 * {@code IllegalArgumentException}: wrong shapes, labels) fails the step at once with that error. A step that is
 * not finished within the timeout fails naming the replicas that did not answer, and the
 * runtime refuses further steps. Every {@code checksumEvery} steps the replicas' parameter
 * checksums are compared; a difference fails the step.
 */
public final class Coordinator extends AbstractBehavior<Coordinator.Command> {

    /** Everything the coordinator hears: requests from users and answers from replicas. */
    public sealed interface Command permits TrainStep, Forward, GetStates, LoadState,
            ShardComputed, ShardFailed, Applied, SnapshotTaken, Restored, StepTimedOut { }

    /** Train on one batch; the reply carries the mean loss over the batch and the gathered outputs. */
    public record TrainStep(Tensor inputs, Tensor labels, ActorRef<StepOutcome> replyTo) implements Command { }

    /** Inference: scatter, run, gather, like {@code nn.DataParallel(model)(x)}. */
    public record Forward(Tensor inputs, ActorRef<StepOutcome> replyTo) implements Command { }

    /** Copies of every replica's state (model and optimizer), in replica order. */
    public record GetStates(ActorRef<StatesOutcome> replyTo) implements Command { }

    /** Load one state (model and optimizer) into every replica, e.g. to resume from a checkpoint. */
    public record LoadState(Replica.Snapshot state, ActorRef<StatesOutcome> replyTo) implements Command { }

    /** {@code nanos}: the replica's forward and backward, bucket hand-offs included. */
    public record ShardComputed(long step, int replica, float weightedLoss, Tensor outputs, long nanos) implements Command { }

    public record ShardFailed(long step, int replica, Throwable error, boolean computing) implements Command { }

    /** {@code waitNanos}: waiting for the all-reduce's sums; {@code stepNanos}: the optimizer update. */
    public record Applied(long step, int replica, long checksum, long waitNanos, long stepNanos) implements Command { }

    public record SnapshotTaken(int replica, Replica.Snapshot snapshot) implements Command { }

    public record Restored(int replica, Throwable error) implements Command { }

    public record StepTimedOut(long step) implements Command { }

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
    }

    /** The dispatcher that gives each replica a thread of its own (see reference.conf). */
    public static final String REPLICA_DISPATCHER = "phalanx.replica-dispatcher";

    private enum Phase { STARTING, IDLE, COMPUTING, APPLYING, RESTORING, SNAPSHOTTING, LOADING, BROKEN }

    private final Settings settings;
    private final StashBuffer<Command> stash;
    private final TimerScheduler<Command> timers;
    private final AllReduce allReduce;
    private final List<ActorRef<Replica.Command>> replicas = new ArrayList<>();
    private Phase phase = Phase.STARTING;
    private String brokenBecause;
    private long nextStep = 1;
    private Step step; // the step in flight
    private int restoresPending;
    private Replica.Snapshot[] snapshots;
    private ActorRef<StatesOutcome> statesReplyTo;
    private Throwable loadError;

    /** One training step or forward in flight. */
    private static final class Step {
        final long id;
        final boolean train;
        final Tensor inputs, labels;
        final List<Shards.Range> ranges;
        final ActorRef<StepOutcome> replyTo;
        final float[] losses;
        final Tensor[] outputs;
        final boolean[] computed, applied;
        final int[] failures;
        final long[] checksums;
        final long started = System.nanoTime();
        long computeNanos, optimizerNanos, waitNanos;
        int restoring = -1;
        Throwable applyFailure;

        Step(long id, boolean train, Tensor inputs, Tensor labels, int replicas, ActorRef<StepOutcome> replyTo) {
            this.id = id;
            this.train = train;
            this.inputs = inputs;
            this.labels = labels;
            this.ranges = Shards.split(inputs.size(0), replicas);
            this.replyTo = replyTo;
            losses = new float[replicas];
            outputs = new Tensor[replicas];
            computed = new boolean[replicas];
            applied = new boolean[replicas];
            failures = new int[replicas];
            checksums = new long[replicas];
        }

        Shards.Range range(int replica) {
            return replica < ranges.size() ? ranges.get(replica) : new Shards.Range(inputs.size(0), inputs.size(0));
        }

        /** Replicas that take part: all of them when training (each must step), those with rows otherwise. */
        int participants(int replicas) {
            return train ? replicas : ranges.size();
        }
    }

    public static Behavior<Command> create(ReplicaSpec spec, Settings settings) {
        // the model factory is called by the replicas alone, once each: it may be stateful
        return Behaviors.withStash(10_000, stash -> Behaviors.withTimers(timers -> Behaviors.setup(ctx ->
                new Coordinator(ctx, stash, timers, spec, settings, new HostAllReduce(settings.devices().size())))));
    }

    private Coordinator(ActorContext<Command> ctx, StashBuffer<Command> stash, TimerScheduler<Command> timers,
                        ReplicaSpec spec, Settings settings, AllReduce allReduce) {
        super(ctx);
        this.settings = settings;
        this.stash = stash;
        this.timers = timers;
        this.allReduce = allReduce;
        List<Device> devices = settings.devices();
        for (int i = 0; i < devices.size(); i++) {
            ActorRef<Replica.Command> r = ctx.spawn(Replica.create(i, devices.get(i), spec, allReduce), "replica-" + i,
                    DispatcherSelector.fromConfig(REPLICA_DISPATCHER));
            ctx.watch(r);
            replicas.add(r);
        }
        if (settings.initial() != null) { // every replica loads the given parameters before the first step
            restoresPending = replicas.size();
            for (ActorRef<Replica.Command> r : replicas) r.tell(new Replica.Restore(settings.initial(), false, ctx.getSelf()));
        } else if (replicas.size() > 1) { // broadcast replica 0's parameters before the first step
            replicas.get(0).tell(new Replica.TakeSnapshot(ctx.getSelf()));
        } else {
            phase = Phase.IDLE;
        }
    }

    private int n() {
        return replicas.size();
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(TrainStep.class, m -> request(m, () -> start(new Step(nextStep++, true, m.inputs(), m.labels(), n(), m.replyTo()))))
                .onMessage(Forward.class, m -> request(m, () -> start(new Step(nextStep++, false, m.inputs(), null, n(), m.replyTo()))))
                .onMessage(GetStates.class, m -> request(m, () -> collectStates(m.replyTo())))
                .onMessage(LoadState.class, m -> request(m, () -> loadAll(m)))
                .onMessage(ShardComputed.class, this::onComputed)
                .onMessage(ShardFailed.class, this::onFailed)
                .onMessage(Applied.class, this::onApplied)
                .onMessage(SnapshotTaken.class, this::onSnapshot)
                .onMessage(Restored.class, this::onRestored)
                .onMessage(StepTimedOut.class, this::onTimeout)
                .onSignal(Terminated.class, t -> breakDown("replica actor " + t.getRef().path().name() + " stopped", null))
                .build();
    }

    /** Handles a user request now if idle, stashes it during a step, refuses it when broken. */
    private Behavior<Command> request(Command m, Runnable handle) {
        if (phase == Phase.BROKEN) {
            IllegalStateException e = new IllegalStateException("the data-parallel runtime cannot take more work: " + brokenBecause
                    + "; close it and start a new one");
            if (m instanceof TrainStep t) t.replyTo().tell(new StepOutcome(0, Float.NaN, null, e));
            else if (m instanceof Forward f) f.replyTo().tell(new StepOutcome(0, Float.NaN, null, e));
            else if (m instanceof GetStates g) g.replyTo().tell(new StatesOutcome(null, e));
            else if (m instanceof LoadState l) l.replyTo().tell(new StatesOutcome(null, e));
            return this;
        }
        if (phase != Phase.IDLE) {
            stash.stash(m);
            return this;
        }
        try {
            handle.run();
        } catch (RuntimeException e) { // bad input (an empty batch, mismatched labels): answer, stay idle
            if (m instanceof TrainStep t) t.replyTo().tell(new StepOutcome(0, Float.NaN, null, e));
            else if (m instanceof Forward f) f.replyTo().tell(new StepOutcome(0, Float.NaN, null, e));
            step = null;
            phase = Phase.IDLE;
        }
        return this;
    }

    private void start(Step s) {
        if (s.train && (s.labels == null || s.labels.size(0) != s.inputs.size(0))) {
            throw new IllegalArgumentException("a training batch needs one label per row: inputs have " + s.inputs.size(0)
                    + " rows, labels " + (s.labels == null ? "none" : s.labels.size(0)));
        }
        step = s;
        phase = Phase.COMPUTING;
        for (int r = 0; r < s.participants(n()); r++) compute(s, r);
        timers.startSingleTimer(s.id, new StepTimedOut(s.id), settings.stepTimeout());
    }

    private void compute(Step s, int r) {
        replicas.get(r).tell(new Replica.Compute(s.id, s.inputs, s.labels, s.range(r), s.inputs.size(0), s.train, getContext().getSelf()));
    }

    private boolean current(long id) {
        return step != null && step.id == id;
    }

    private Behavior<Command> onComputed(ShardComputed m) {
        if (!current(m.step())) return this;
        Step s = step;
        s.computed[m.replica()] = true;
        s.losses[m.replica()] = m.weightedLoss();
        s.outputs[m.replica()] = m.outputs();
        s.computeNanos = Math.max(s.computeNanos, m.nanos());
        for (int r = 0; r < s.participants(n()); r++) if (!s.computed[r]) return this;
        if (!s.train) return finish(s, null);
        phase = Phase.APPLYING;
        boolean checksum = settings.checksumEvery() > 0 && s.id % settings.checksumEvery() == 0;
        for (ActorRef<Replica.Command> r : replicas) r.tell(new Replica.Apply(s.id, checksum, getContext().getSelf()));
        return this;
    }

    private Behavior<Command> onFailed(ShardFailed m) {
        if (!current(m.step())) return this;
        Step s = step;
        int r = m.replica();
        if (m.error() instanceof IllegalArgumentException bad) {
            // bad input (shapes, labels): every replica would fail the same way; a restart cannot help
            return finish(s, bad);
        }
        if (++s.failures[r] == 1 && n() == 1 && m.computing()) { // nobody to copy from; computing changed nothing: retry
            getContext().getLog().warn("replica 0 failed in step {} ({}); retrying its shard once", s.id, m.error().toString());
            compute(s, r);
            return this;
        }
        if (s.failures[r] > 1 || n() == 1) {
            return finish(s, new ReplicaFailedException("replica " + r + " (" + settings.devices().get(r) + ") failed "
                    + (s.failures[r] > 1 ? "twice" : "") + " in step " + s.id + ": " + m.error(), m.error()));
        }
        if (s.restoring >= 0) { // a second replica failed while the first was being restored: give up on the step
            return finish(s, new ReplicaFailedException("replicas " + s.restoring + " and " + r + " both failed in step " + s.id
                    + ": " + m.error(), m.error()));
        }
        s.restoring = r;
        if (!m.computing()) s.applyFailure = m.error();
        getContext().getLog().warn("replica {} failed in step {} ({}); restarting it from a healthy replica", r, s.id, m.error().toString());
        int healthy = r == 0 ? 1 : 0;
        if (m.computing()) {
            phase = Phase.RESTORING;
            replicas.get(healthy).tell(new Replica.TakeSnapshot(getContext().getSelf()));
        }
        // an apply failure waits until every other replica has applied, then takes the post-step state
        return m.computing() ? this : afterApplyProgress(s);
    }

    private Behavior<Command> onApplied(Applied m) {
        if (!current(m.step())) return this;
        step.applied[m.replica()] = true;
        step.checksums[m.replica()] = m.checksum();
        step.optimizerNanos = Math.max(step.optimizerNanos, m.stepNanos());
        step.waitNanos = Math.max(step.waitNanos, m.waitNanos());
        return afterApplyProgress(step);
    }

    private Behavior<Command> afterApplyProgress(Step s) {
        for (int r = 0; r < n(); r++) if (!s.applied[r] && r != s.restoring) return this;
        if (s.restoring >= 0) { // every healthy replica has stepped: copy one of them to the failed one
            phase = Phase.RESTORING;
            replicas.get(s.restoring == 0 ? 1 : 0).tell(new Replica.TakeSnapshot(getContext().getSelf()));
            return this;
        }
        if (settings.checksumEvery() > 0 && s.id % settings.checksumEvery() == 0) {
            for (int r = 1; r < n(); r++) {
                if (s.checksums[r] != s.checksums[0]) {
                    return finish(s, new ReplicaDivergenceException("replicas diverged at step " + s.id + ": replica 0 has parameter checksum "
                            + Long.toHexString(s.checksums[0]) + ", replica " + r + " has " + Long.toHexString(s.checksums[r])));
                }
            }
        }
        return finish(s, null);
    }

    private Behavior<Command> onSnapshot(SnapshotTaken m) {
        if (phase == Phase.STARTING) {
            restoresPending = n() - 1;
            for (int r = 1; r < n(); r++) replicas.get(r).tell(new Replica.Restore(m.snapshot(), false, getContext().getSelf()));
            return this;
        }
        if (phase == Phase.SNAPSHOTTING) {
            snapshots[m.replica()] = m.snapshot();
            for (Replica.Snapshot s : snapshots) if (s == null) return this;
            statesReplyTo.tell(new StatesOutcome(List.of(snapshots), null));
            snapshots = null;
            return idle();
        }
        if (phase == Phase.RESTORING && step != null && step.restoring >= 0) {
            replicas.get(step.restoring).tell(new Replica.Restore(m.snapshot(), true, getContext().getSelf()));
        }
        return this;
    }

    private Behavior<Command> onRestored(Restored m) {
        if (phase == Phase.STARTING) {
            if (m.error() != null) return breakDown("replica " + m.replica() + " could not load the initial parameters: " + m.error(), null);
            if (--restoresPending == 0) return idle();
            return this;
        }
        if (phase == Phase.LOADING) {
            if (m.error() != null && loadError == null) loadError = m.error();
            if (--restoresPending > 0) return this;
            statesReplyTo.tell(new StatesOutcome(null, loadError));
            loadError = null;
            return idle();
        }
        if (phase != Phase.RESTORING || step == null) return this;
        Step s = step;
        if (m.error() != null) return finish(s, new ReplicaFailedException("replica " + m.replica() + " could not be restored: " + m.error(), m.error()));
        s.restoring = -1;
        if (s.applyFailure != null) { // restored to the post-step state of a healthy replica: the step is done
            s.applied[m.replica()] = true;
            s.checksums[m.replica()] = s.checksums[m.replica() == 0 ? 1 : 0];
            phase = Phase.APPLYING;
            return afterApplyProgress(s);
        }
        phase = Phase.COMPUTING;
        compute(s, m.replica()); // the retry
        return this;
    }

    private Behavior<Command> onTimeout(StepTimedOut m) {
        if (!current(m.step())) return this;
        Step s = step;
        List<String> missing = new ArrayList<>();
        boolean applying = phase == Phase.APPLYING;
        for (int r = 0; r < s.participants(n()); r++) {
            if (applying ? !s.applied[r] : !s.computed[r]) missing.add("replica " + r + " (" + settings.devices().get(r) + ")");
        }
        String who = missing.isEmpty() ? "the restore of replica " + s.restoring : String.join(", ", missing);
        ReplicaTimeoutException e = new ReplicaTimeoutException(who + " did not answer within " + settings.stepTimeout().toMillis()
                + " ms in step " + s.id);
        return breakDown(who + " stopped answering in step " + s.id, e);
    }

    private Behavior<Command> finish(Step s, Throwable error) {
        timers.cancel(s.id);
        allReduce.finish(s.id);
        step = null;
        if (error != null) {
            s.replyTo.tell(new StepOutcome(s.id, Float.NaN, null, error));
        } else {
            float loss = 0f;
            List<Tensor> outs = new ArrayList<>();
            for (int r = 0; r < s.ranges.size(); r++) {
                loss += s.losses[r];
                outs.add(s.outputs[r]);
            }
            Timing t = new Timing(System.nanoTime() - s.started, s.computeNanos, s.optimizerNanos, s.waitNanos);
            s.replyTo.tell(new StepOutcome(s.id, loss, Tensor.cat(outs, 0), null, t));
        }
        return phase == Phase.BROKEN ? this : idle();
    }

    private void collectStates(ActorRef<StatesOutcome> replyTo) {
        phase = Phase.SNAPSHOTTING;
        snapshots = new Replica.Snapshot[n()];
        statesReplyTo = replyTo;
        for (ActorRef<Replica.Command> r : replicas) r.tell(new Replica.TakeSnapshot(getContext().getSelf()));
    }

    private void loadAll(LoadState m) {
        phase = Phase.LOADING;
        restoresPending = n();
        statesReplyTo = m.replyTo();
        for (ActorRef<Replica.Command> r : replicas) r.tell(new Replica.Restore(m.state(), false, getContext().getSelf()));
    }

    private Behavior<Command> idle() {
        phase = Phase.IDLE;
        return stash.unstashAll(this);
    }

    /** From now on every request is refused with {@code why}; the step in flight fails with {@code error}. */
    private Behavior<Command> breakDown(String why, Throwable error) {
        phase = Phase.BROKEN;
        brokenBecause = why;
        if (step != null) finish(step, error != null ? error : new IllegalStateException(why));
        return stash.unstashAll(this); // answers what waited in the stash, rather than leaving callers waiting
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
