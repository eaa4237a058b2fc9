package dev.phalanx.parallel;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;

import dev.phalanx.autograd.Reproducible;
import dev.phalanx.tensor.Tensor;

/**
 * One training step or forward, as a short-lived child of the coordinator (Pekko's
 * scatter/gather, as its {@code DeviceGroupQuery}): it scatters the shards, gathers the
 * replicas' answers, answers the requester, reports {@code WorkDone} to the coordinator and
 * stops. Its behaviours, one per state:
 * <ul>
 * <li>{@link #computing}: forward and backward on every shard, gradients offered to the all-reduce;</li>
 * <li>{@link #applying}: every replica takes the sums and steps its optimizer;</li>
 * <li>{@link #restoring}: a replica that failed is rebuilt from a healthy replica's state, then
 * its shard is retried (a failure while computing) or the step is done (while applying).</li>
 * </ul>
 * A deadline (the step timeout) covers the whole step.
 */
final class StepRun {

    /** What the step does: its id, whether it trains, the batch and how it is split, and where it lies in the global batch. */
    record Plan(long id, boolean train, Tensor inputs, Tensor labels, Coordinator.GlobalRows place) {
        /** Checks the batch: an {@code IllegalArgumentException} for bad input, answered before any replica hears of it. */
        static Plan of(long id, boolean train, Tensor inputs, Tensor labels, Coordinator.GlobalRows place) {
            Shards.split(inputs.size(0), 1); // an empty batch
            if (train && (labels == null || labels.size(0) != inputs.size(0))) {
                throw new IllegalArgumentException("a training batch needs one label per row: inputs have " + inputs.size(0)
                        + " rows, labels " + (labels == null ? "none" : labels.size(0)));
            }
            int rows = inputs.size(0);
            if (place == null) place = new Coordinator.GlobalRows(0, rows);
            if (place.offset() + rows > place.batch()) {
                throw new IllegalArgumentException(rows + " rows from row " + place.offset() + " do not fit in a global batch of " + place.batch());
            }
            return new Plan(id, train, inputs, labels, place);
        }
    }

    private final Plan plan;
    private final ActorRef<Coordinator.StepOutcome> replyTo;
    private final List<ActorRef<ReplicaCommand>> replicas;
    private final Coordinator.Settings settings;
    private final AllReduce allReduce;
    private final ActorRef<Coordinator.Command> parent;
    private final ActorContext<ReplicaReply> ctx;
    private final TimerScheduler<ReplicaReply> timers;
    private final List<Shards.Range> ranges;
    private final float[] losses;
    private final Reproducible.LossTree[] lossTrees;
    private final Tensor[] outputs;
    private final boolean[] computed, applied;
    private final int[] failures;
    private final boolean[] captureFailures;
    private boolean captureRetried;
    private final long[] checksums;
    private final long started = System.nanoTime();
    private long computeNanos, optimizerNanos, waitNanos;

    static Behavior<ReplicaReply> create(Plan plan, ActorRef<Coordinator.StepOutcome> replyTo, List<ActorRef<ReplicaCommand>> replicas,
                                         Coordinator.Settings settings, AllReduce allReduce, ActorRef<Coordinator.Command> parent) {
        return Behaviors.withTimers(timers -> Behaviors.setup(ctx ->
                new StepRun(ctx, timers, plan, replyTo, replicas, settings, allReduce, parent).start()));
    }

    private StepRun(ActorContext<ReplicaReply> ctx, TimerScheduler<ReplicaReply> timers, Plan plan, ActorRef<Coordinator.StepOutcome> replyTo,
                    List<ActorRef<ReplicaCommand>> replicas, Coordinator.Settings settings, AllReduce allReduce,
                    ActorRef<Coordinator.Command> parent) {
        this.ctx = ctx;
        this.timers = timers;
        this.plan = plan;
        this.replyTo = replyTo;
        this.replicas = replicas;
        this.settings = settings;
        this.allReduce = allReduce;
        this.parent = parent;
        int n = replicas.size();
        this.ranges = Shards.split(plan.inputs().size(0), n);
        losses = new float[n];
        lossTrees = new Reproducible.LossTree[n];
        outputs = new Tensor[n];
        computed = new boolean[n];
        applied = new boolean[n];
        failures = new int[n];
        captureFailures = new boolean[n];
        checksums = new long[n];
    }

    private int n() {
        return replicas.size();
    }

    /** Replicas that take part: all of them when training (each must step), those with rows otherwise. */
    private int participants() {
        return plan.train() ? n() : ranges.size();
    }

    private Shards.Range range(int replica) {
        int rows = plan.inputs().size(0);
        return replica < ranges.size() ? ranges.get(replica) : new Shards.Range(rows, rows);
    }

    private Behavior<ReplicaReply> start() {
        for (int r = 0; r < participants(); r++) compute(r);
        timers.startSingleTimer(new ReplicaReply.DeadlinePassed(plan.id()), settings.stepTimeout());
        return computing();
    }

    private void compute(int r) {
        replicas.get(r).tell(new ReplicaCommand.Compute(plan.id(), plan.inputs(), plan.labels(), range(r), plan.inputs().size(0), plan.place(),
                plan.train(), ctx.getSelf()));
    }

    private Behavior<ReplicaReply> computing() {
        return Behaviors.receive(ReplicaReply.class)
                .onMessage(ReplicaReply.ShardComputed.class, this::ours, m -> {
                    record(m);
                    for (int r = 0; r < participants(); r++) if (!computed[r]) return Behaviors.same();
                    if (!plan.train()) return finish(null, null);
                    boolean checksum = settings.checksumAt(plan.id());
                    for (ActorRef<ReplicaCommand> r : replicas) r.tell(new ReplicaCommand.Apply(plan.id(), checksum, ctx.getSelf()));
                    return applying(-1, null);
                })
                .onMessage(ReplicaReply.ShardFailed.class, this::ours,
                        m -> DeviceStepGraph.CaptureFailedException.in(m.error()) ? captureFailed(m) : computeFailed(m))
                .onMessage(ReplicaReply.DeadlinePassed.class, m -> timedOut(r -> !computed[r], -1))
                .onMessage(ReplicaReply.class, m -> Behaviors.same()) // a stale answer
                .build();
    }

    /** {@code failed} >= 0: a replica that failed while applying, restored once every other one has applied. */
    private Behavior<ReplicaReply> applying(int failed, Throwable applyError) {
        return Behaviors.receive(ReplicaReply.class)
                .onMessage(ReplicaReply.Applied.class, this::ours, m -> {
                    applied[m.replica()] = true;
                    checksums[m.replica()] = m.checksum();
                    optimizerNanos = Math.max(optimizerNanos, m.stepNanos());
                    waitNanos = Math.max(waitNanos, m.waitNanos());
                    return afterApplyProgress(failed, applyError);
                })
                .onMessage(ReplicaReply.ShardFailed.class, this::ours, m -> {
                    int r = m.replica();
                    if (++failures[r] > 1 || n() == 1) return finish(replicaFailed(r, m.error()), null);
                    if (failed >= 0) return finish(bothFailed(failed, r, m.error()), null);
                    ctx.getLog().warn("replica {} failed applying step {} ({}); restarting it from a healthy replica", r, plan.id(), m.error().toString());
                    return afterApplyProgress(r, m.error());
                })
                .onMessage(ReplicaReply.DeadlinePassed.class, m -> timedOut(r -> !applied[r], -1))
                .onMessage(ReplicaReply.class, m -> Behaviors.same())
                .build();
    }

    /** Replica {@code failed} is rebuilt from a healthy one's state; {@code applyError}: it failed applying, else computing. */
    private Behavior<ReplicaReply> restoring(int failed, Throwable applyError) {
        replicas.get(failed == 0 ? 1 : 0).tell(new ReplicaCommand.TakeSnapshot(ctx.getSelf()));
        return Behaviors.receive(ReplicaReply.class)
                .onMessage(ReplicaReply.SnapshotTaken.class, m -> {
                    replicas.get(failed).tell(new ReplicaCommand.Restore(m.snapshot(), true, ctx.getSelf()));
                    return Behaviors.same();
                })
                .onMessage(ReplicaReply.Restored.class, m -> {
                    if (m.error() != null) {
                        return finish(new Coordinator.ReplicaFailedException("replica " + m.replica() + " could not be restored: " + m.error(), m.error()), null);
                    }
                    if (applyError != null) { // restored to the post-step state of a healthy replica: its step is done
                        applied[failed] = true;
                        checksums[failed] = checksums[failed == 0 ? 1 : 0];
                        return afterApplyProgress(-1, null);
                    }
                    compute(failed); // the retry
                    return computing();
                })
                .onMessage(ReplicaReply.ShardComputed.class, this::ours, m -> { // the others go on meanwhile
                    record(m);
                    return Behaviors.same();
                })
                .onMessage(ReplicaReply.ShardFailed.class, this::ours, m -> m.error() instanceof IllegalArgumentException bad
                        ? finish(bad, null) : finish(bothFailed(failed, m.replica(), m.error()), null))
                .onMessage(ReplicaReply.DeadlinePassed.class, m -> timedOut(r -> !computed[r], failed))
                .onMessage(ReplicaReply.class, m -> Behaviors.same())
                .build();
    }

    /**
     * The replicas' CUDA graph could not be captured: every replica fails the step so (they meet on
     * the host during a capture), and nothing captured ran, so no state changed. Once all have
     * answered, each computes the step again, eagerly (the graph is off from then on), once; a
     * second failure, or a replica that computed meanwhile, is an ordinary failure.
     */
    private Behavior<ReplicaReply> captureFailed(ReplicaReply.ShardFailed m) {
        if (captureRetried) return computeFailed(m);
        captureFailures[m.replica()] = true;
        for (int r = 0; r < participants(); r++) if (!captureFailures[r]) return computed[r] ? computeFailed(m) : Behaviors.same();
        captureRetried = true;
        ctx.getLog().warn("step {}: the replicas' CUDA graph could not be captured ({}); computing the step again eagerly", plan.id(),
                m.error().getMessage());
        for (int r = 0; r < participants(); r++) {
            captureFailures[r] = false;
            compute(r);
        }
        return Behaviors.same();
    }

    private Behavior<ReplicaReply> computeFailed(ReplicaReply.ShardFailed m) {
        int r = m.replica();
        if (m.error() instanceof IllegalArgumentException bad) {
            return finish(bad, null); // bad input (shapes, labels): every replica would fail the same way; a restart cannot help
        }
        if (++failures[r] == 1 && n() == 1) { // nobody to copy from; computing changed nothing: retry
            ctx.getLog().warn("replica 0 failed in step {} ({}); retrying its shard once", plan.id(), m.error().toString());
            compute(r);
            return Behaviors.same();
        }
        if (failures[r] > 1 || n() == 1) return finish(replicaFailed(r, m.error()), null);
        ctx.getLog().warn("replica {} failed in step {} ({}); restarting it from a healthy replica", r, plan.id(), m.error().toString());
        return restoring(r, null);
    }

    private Behavior<ReplicaReply> afterApplyProgress(int failed, Throwable applyError) {
        for (int r = 0; r < n(); r++) if (!applied[r] && r != failed) return applying(failed, applyError);
        if (failed >= 0) return restoring(failed, applyError); // every healthy replica has stepped: copy one of them
        if (settings.checksumAt(plan.id())) {
            for (int r = 1; r < n(); r++) {
                if (checksums[r] != checksums[0]) {
                    return finish(new Coordinator.ReplicaDivergenceException("replicas diverged at step " + plan.id() + ": replica 0 has parameter checksum "
                            + Long.toHexString(checksums[0]) + ", replica " + r + " has " + Long.toHexString(checksums[r])), null);
                }
            }
        }
        return finish(null, null);
    }

    /** The step's deadline passed; {@code restoring}: the replica being restored, or -1. */
    private Behavior<ReplicaReply> timedOut(IntPredicate missing, int restoring) {
        List<String> who = new ArrayList<>();
        for (int r = 0; r < participants(); r++) if (missing.test(r)) who.add("replica " + r + " (" + settings.devices().get(r) + ")");
        String names = who.isEmpty() ? "the restore of replica " + restoring : String.join(", ", who);
        Coordinator.ReplicaTimeoutException e = new Coordinator.ReplicaTimeoutException(names + " did not answer within "
                + settings.stepTimeout().toMillis() + " ms in step " + plan.id());
        return finish(e, names + " stopped answering in step " + plan.id());
    }

    private boolean ours(ReplicaReply.ShardComputed m) {
        return m.step() == plan.id();
    }

    private boolean ours(ReplicaReply.ShardFailed m) {
        return m.step() == plan.id();
    }

    private boolean ours(ReplicaReply.Applied m) {
        return m.step() == plan.id();
    }

    private void record(ReplicaReply.ShardComputed m) {
        computed[m.replica()] = true;
        losses[m.replica()] = m.weightedLoss();
        lossTrees[m.replica()] = m.lossTree();
        outputs[m.replica()] = m.outputs();
        computeNanos = Math.max(computeNanos, m.nanos());
    }

    private Coordinator.ReplicaFailedException replicaFailed(int r, Throwable error) {
        return new Coordinator.ReplicaFailedException("replica " + r + " (" + settings.devices().get(r) + ") failed "
                + (failures[r] > 1 ? "twice " : "") + "in step " + plan.id() + ": " + error, error);
    }

    private Coordinator.ReplicaFailedException bothFailed(int first, int second, Throwable error) {
        return new Coordinator.ReplicaFailedException("replicas " + first + " and " + second + " both failed in step " + plan.id()
                + ": " + error, error);
    }

    /** Answers the requester, tells the coordinator ({@code fatal}: why it can take no more work), and stops. */
    private Behavior<ReplicaReply> finish(Throwable error, String fatal) {
        timers.cancelAll();
        allReduce.finish(plan.id());
        if (error != null) {
            replyTo.tell(new Coordinator.StepOutcome(plan.id(), Float.NaN, null, error));
        } else {
            float loss = 0f;
            List<Tensor> outs = new ArrayList<>();
            List<Reproducible.LossTree> trees = new ArrayList<>();
            for (int r = 0; r < ranges.size(); r++) {
                loss += losses[r];
                outs.add(outputs[r]);
                if (lossTrees[r] != null) trees.add(lossTrees[r]);
            }
            // reproducible mode (#13): the loss finished along the sample tree, bitwise that of 1 replica;
            // a cluster node holds only its own rows, so its share stays the sum above (DESIGN.md)
            if (trees.size() == ranges.size() && Reproducible.LossTree.coverTheBatch(trees)) loss = Reproducible.LossTree.value(trees);
            Coordinator.Timing t = new Coordinator.Timing(System.nanoTime() - started, computeNanos, optimizerNanos, waitNanos);
            replyTo.tell(new Coordinator.StepOutcome(plan.id(), loss, Tensor.cat(outs, 0), null, t));
        }
        parent.tell(new Coordinator.WorkDone(fatal));
        return Behaviors.stopped();
    }
}
