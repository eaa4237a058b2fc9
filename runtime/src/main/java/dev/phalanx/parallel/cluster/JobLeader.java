package dev.phalanx.parallel.cluster;

import java.io.PrintStream;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Down;
import org.apache.pekko.cluster.typed.Subscribe;

import dev.phalanx.parallel.Shards;

/**
 * The coordinator node's actor in cluster mode. Its behaviours, one per state:
 * <ul>
 * <li>{@link #gathering}: nodes join; each is checked (shared secret, then the digest of its
 * copy of the data set, after it has the recipe) and accepted or refused;</li>
 * <li>{@link #formingRing}: the K nodes are told their ring neighbours and connect;</li>
 * <li>{@link #training} and {@link #stepping}: every step, each worker gets its rows and
 * reports its weighted loss;</li>
 * <li>{@link #loadingState}: on a resume, and after a node was lost, every worker takes the
 * coordinator's state from the data channel and loads it;</li>
 * <li>{@link #reforming}: a node was lost (downed by the split-brain resolver), or nodes joined
 * during training (checked as in gathering, meanwhile); the ring is formed again from the nodes
 * that remain and those that joined;</li>
 * <li>{@link #stopped}: the job is over, or could not go on.</li>
 * </ul>
 * The coordinator's own replicas run outside this actor, in the training loop (rank 0).
 */
final class JobLeader {

    /** How worker nodes find the coordinator. */
    static final ServiceKey<LeaderCommand> KEY = ServiceKey.create(LeaderCommand.class, "phalanx-coordinator");

    /**
     * Where the coordinator's own replicas connect once the ring is formed: its right neighbour's
     * data channel; {@code ncclUniqueId}: the communicator the nodes sum with (empty: the ring
     * sums); {@code replicas}: the replicas on all the ring's nodes.
     */
    record RingPlan(int size, String rightHost, int rightPort, byte[] ncclUniqueId, int replicas) { }

    /**
     * What the training loop hands over: the job, and futures it waits on; {@code joinersWaiting}
     * is set while nodes that joined during training wait for the next step boundary to enter the
     * ring; {@code groups}: where the nodes' communicator comes from when they sum with NCCL (this
     * node makes its id, as rank 0), null when the ring sums; {@code replicas}: this node's.
     */
    record Job(int nodes, String recipe, String dataDigest, String self, String dataHost, int dataPort,
               CompletableFuture<RingPlan> formed, CompletableFuture<Void> ready, PrintStream out,
               java.util.concurrent.atomic.AtomicBoolean joinersWaiting, RankGroups groups, int replicas) { }

    /** A worker node that asked to join. */
    private record Worker(String node, int replicas, String device, String dataHost, int dataPort, ActorRef<NodeCommand> ref) {
        Worker(LeaderCommand.Join m) {
            this(m.node(), m.replicas(), m.device(), m.dataHost(), m.dataPort(), m.replyTo());
        }

        /** As the joined line says it: 1 replica on cpu. */
        String replicasOn() {
            return replicas + (replicas == 1 ? " replica on " : " replicas on ") + device;
        }
    }

    private final ActorContext<LeaderCommand> ctx;
    private final TimerScheduler<LeaderCommand> timers;
    private final ClusterSettings settings;
    private final Job job;
    private final Map<String, Worker> checking = new LinkedHashMap<>(); // sent the recipe, waiting for the data digest
    private final List<Worker> workers = new ArrayList<>(); // accepted, in rank order (rank = index + 1)
    private final List<Worker> joiners = new ArrayList<>(); // joined during training, checked, waiting to enter the ring
    private final List<Worker> arriving = new ArrayList<>(); // checked between two steps: they are announced with the next step
    private LeaderCommand.StartStep lastStep; // the step in flight, or the last one
    private final Set<String> lost = new HashSet<>();
    private int generation; // of the ring: one more each time it is formed again

    static Behavior<LeaderCommand> create(ClusterSettings settings, Job job) {
        return Behaviors.withTimers(timers -> Behaviors.setup(ctx -> new JobLeader(ctx, timers, settings, job).start()));
    }

    private JobLeader(ActorContext<LeaderCommand> ctx, TimerScheduler<LeaderCommand> timers, ClusterSettings settings, Job job) {
        this.ctx = ctx;
        this.timers = timers;
        this.settings = settings;
        this.job = job;
    }

    private Behavior<LeaderCommand> start() {
        ctx.getSystem().receptionist().tell(Receptionist.register(KEY, ctx.getSelf()));
        ActorRef<ClusterEvent.MemberRemoved> removed = ctx.messageAdapter(ClusterEvent.MemberRemoved.class,
                e -> new LeaderCommand.MemberGone(node(e.member().address()), e.previousStatus() == org.apache.pekko.cluster.MemberStatus.down()
                        ? "was downed by the split-brain resolver (unreachable)" : "left the cluster"));
        Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(removed, ClusterEvent.MemberRemoved.class));
        // only removal counts (the split-brain resolver downs a node that stays unreachable): a node paused
        // for a while on a busy machine is not lost; the step timeout covers a node that hangs
        if (job.nodes() == 1) return formRing();
        timers.startSingleTimer(new LeaderCommand.JoinDeadline(), settings.joinTimeout());
        return gathering();
    }

    /** Nodes were lost while the job's state went round: the ring is to be formed again, and the state sent again. */
    static final class NodesLostException extends IllegalStateException {
        NodesLostException(String message) {
            super(message);
        }
    }

    static String node(Address a) {
        return a.getHost().orElse("?") + ":" + (a.getPort().isPresent() ? a.getPort().get() : 0);
    }

    private Behavior<LeaderCommand> gathering() {
        return Behaviors.receive(LeaderCommand.class)
                .onMessage(LeaderCommand.Join.class, this::onJoin)
                .onMessage(LeaderCommand.DataReady.class, m -> {
                    Worker w = checked(m);
                    if (w == null) return Behaviors.same();
                    workers.add(w);
                    job.out().println("node " + w.node() + " joined: " + w.replicasOn());
                    return workers.size() == job.nodes() - 1 ? formRing() : Behaviors.same();
                })
                .onMessage(LeaderCommand.MemberGone.class, m -> {
                    Worker w = checking.remove(m.node());
                    if (w == null) for (Worker a : workers) if (a.node().equals(m.node())) w = a;
                    if (w != null) {
                        workers.remove(w);
                        job.out().println("node " + m.node() + " left: it " + m.why());
                    }
                    return Behaviors.same();
                })
                .onMessage(LeaderCommand.JoinDeadline.class, m -> {
                    List<String> joined = new ArrayList<>(List.of(job.self() + " (the coordinator)"));
                    for (Worker w : workers) joined.add(w.node());
                    String still = checking.isEmpty() ? "" : "; still checking the data of " + String.join(", ", checking.keySet());
                    job.ready().completeExceptionally(new IllegalStateException("only " + joined.size() + " of " + job.nodes() + " nodes joined within "
                            + settings.joinTimeout().toSeconds() + " s (joined: " + String.join(", ", joined) + "); missing: "
                            + (job.nodes() - joined.size()) + " more (start each with: phalanx node --join " + job.self() + ")" + still));
                    return stopped();
                })
                .onMessage(LeaderCommand.Stop.class, this::onStop)
                .build();
    }

    /** The node whose data digest this is, once it matches; null (the node refused, or unknown) otherwise. */
    private Worker checked(LeaderCommand.DataReady m) {
        Worker w = checking.remove(m.node());
        if (w == null) return null;
        if (!m.error().isEmpty()) {
            refuse(w, "it has no usable copy of the data set: " + m.error());
            return null;
        }
        if (!m.digest().equals(job.dataDigest())) {
            refuse(w, "its copy of the data set differs from the coordinator's (SHA-256 " + m.digest() + ", the coordinator's " + job.dataDigest() + ")");
            return null;
        }
        return w;
    }

    /** A node joins a job that is training: checked as in gathering; it enters the ring at the next step boundary. */
    private Behavior<LeaderCommand> onJoinWhileTraining(LeaderCommand.Join m) {
        Worker w = new Worker(m);
        String why = whyNot(m);
        if (why != null) return refuse(w, why);
        checking.put(w.node(), w);
        w.ref().tell(new NodeCommand.JobRecipe(job.recipe()));
        return Behaviors.same();
    }

    /** Where the job is when a node that joined during training has passed its checks. */
    private enum Moment { BETWEEN_STEPS, IN_A_STEP, REFORMING }

    /**
     * A node that joined during training passed its checks. During a step it takes part from the
     * next one. Between two steps the training loop may already be starting the next one without
     * it, so it is announced with that step and takes part from the one after: either way, from the
     * step after the one its line names. While the ring re-forms (a node lost, or the state going
     * round) it enters at the next step boundary, which may be the retry of the step in flight.
     */
    private Behavior<LeaderCommand> onDataReadyWhileTraining(LeaderCommand.DataReady m, Moment moment) {
        Worker w = checked(m);
        if (w == null) return Behaviors.same();
        switch (moment) {
            case BETWEEN_STEPS -> arriving.add(w);
            case IN_A_STEP -> announce(w, after(lastStep));
            case REFORMING -> announce(w, "");
        }
        return Behaviors.same();
    }

    private static String after(LeaderCommand.StartStep step) {
        return ", after batch " + (step.batch() + 1) + " of epoch " + (step.epoch() + 1);
    }

    /** The node enters the ring at the next step boundary (the training loop reads the flag before each step). */
    private void announce(Worker w, String after) {
        joiners.add(w);
        job.out().println("node " + w.node() + " joined: " + w.replicasOn() + "; it takes part from the next step" + after);
        job.joinersWaiting().set(true);
    }

    private Behavior<LeaderCommand> onJoin(LeaderCommand.Join m) {
        Worker w = new Worker(m);
        String why = whyNot(m);
        if (why != null) return refuse(w, why);
        if (workers.size() + checking.size() >= job.nodes() - 1) return refuse(w, "the job already has its " + job.nodes() + " nodes");
        checking.put(w.node(), w);
        w.ref().tell(new NodeCommand.JobRecipe(job.recipe()));
        return Behaviors.same();
    }

    /** Why the node may not take part (its secret; NCCL it cannot join), or null. */
    private String whyNot(LeaderCommand.Join m) {
        if (!MessageDigest.isEqual(m.secretDigest(), settings.secretDigest())) {
            return m.secretDigest().length == 0 ? "it presented no shared secret, and this cluster requires one (phalanx.cluster.secret)"
                    : "its shared secret does not match the coordinator's (phalanx.cluster.secret)";
        }
        if (job.groups() != null && !m.nccl()) {
            return "this job sums its gradients across the nodes with " + job.groups().describe() + " (the coordinator's replicas are on GPUs), "
                    + "and this node's replicas are on " + m.device() + ", which NCCL cannot reach: start it on its GPUs (phalanx node --device cuda)";
        }
        return null;
    }

    /** Tells the node why, logs it, and downs it, so that it leaves the cluster. */
    private Behavior<LeaderCommand> refuse(Worker w, String why) {
        ctx.getLog().warn("refused node {}: {}", w.node(), why);
        job.out().println("node " + w.node() + " refused: " + why);
        w.ref().tell(new NodeCommand.Refused(why));
        Address a = w.ref().path().address();
        // a moment later, so that the refusal reaches it before it is downed
        ctx.getSystem().scheduler().scheduleOnce(Duration.ofSeconds(1), () -> Cluster.get(ctx.getSystem()).manager().tell(new Down(a)),
                ctx.getExecutionContext());
        return Behaviors.same();
    }

    /**
     * Tells every worker its rank (join order; the coordinator is 0) and its right neighbour in the
     * ring of this generation, with the NCCL communicator's new id when the nodes sum with NCCL
     * (made here, on rank 0's node: a communicator's size is fixed, so each generation has its own);
     * returns the coordinator's part.
     */
    private RingPlan tellRing() {
        int k = workers.size() + 1;
        byte[] id = job.groups() == null ? new byte[0] : job.groups().newUniqueId();
        List<String[]> data = new ArrayList<>();
        data.add(new String[] {job.dataHost(), String.valueOf(job.dataPort())});
        for (Worker w : workers) data.add(new String[] {w.dataHost(), String.valueOf(w.dataPort())});
        int replicas = job.replicas();
        for (int i = 0; i < workers.size(); i++) {
            String[] right = data.get((i + 2) % k);
            workers.get(i).ref().tell(new NodeCommand.RingFormed(i + 1, k, right[0], Integer.parseInt(right[1]), generation, id));
            replicas += workers.get(i).replicas();
        }
        String[] right = data.get(1 % k);
        return new RingPlan(k, right[0], Integer.parseInt(right[1]), id, replicas);
    }

    private Behavior<LeaderCommand> formRing() {
        RingPlan plan;
        try {
            plan = tellRing();
        } catch (RuntimeException e) { // e.g. NCCL did not load, or ncclGetUniqueId failed
            job.ready().completeExceptionally(new IllegalStateException("the ring could not be formed: " + e.getMessage(), e));
            return stopped();
        }
        job.formed().complete(plan);
        if (workers.isEmpty()) return ready();
        Set<String> waiting = new HashSet<>();
        for (Worker w : workers) waiting.add(w.node());
        return formingRing(waiting);
    }

    private Behavior<LeaderCommand> formingRing(Set<String> waiting) {
        return Behaviors.receive(LeaderCommand.class)
                .onMessage(LeaderCommand.RingReady.class, m -> {
                    waiting.remove(m.node());
                    return waiting.isEmpty() ? ready() : Behaviors.same();
                })
                .onMessage(LeaderCommand.MemberGone.class, m -> {
                    job.out().println("node " + m.node() + " left: it " + m.why());
                    job.ready().completeExceptionally(new IllegalStateException("node " + m.node() + " " + m.why() + " while the ring was forming"));
                    return stopped();
                })
                .onMessage(LeaderCommand.JoinDeadline.class, m -> {
                    job.ready().completeExceptionally(new IllegalStateException("the ring did not form within " + settings.joinTimeout().toSeconds()
                            + " s: no data channel connection from " + String.join(", ", waiting)));
                    return stopped();
                })
                .onMessage(LeaderCommand.Join.class, m -> refuse(new Worker(m), "the job already has its " + job.nodes() + " nodes"))
                .onMessage(LeaderCommand.Stop.class, this::onStop)
                .build();
    }

    private Behavior<LeaderCommand> ready() {
        timers.cancelAll();
        job.ready().complete(null);
        return training();
    }

    private Behavior<LeaderCommand> training() {
        return Behaviors.receive(LeaderCommand.class)
                .onMessage(LeaderCommand.StartStep.class, m -> {
                    if (!lost.isEmpty()) { // lost between steps: the ring must be formed again first
                        m.replyTo().tell(new LeaderCommand.StepGathered(m.step(), Double.NaN, "", List.copyOf(lost), 0));
                        return Behaviors.same();
                    }
                    for (int i = 0; i < workers.size(); i++) {
                        Shards.Range r = m.workerRows().get(i);
                        workers.get(i).ref().tell(new NodeCommand.RunStep(m.step(), m.epoch(), m.batch(), r.begin(), r.end(), m.batchSize()));
                    }
                    lastStep = m;
                    for (Worker w : arriving) announce(w, after(m));
                    arriving.clear();
                    timers.startSingleTimer(new LeaderCommand.StepDeadline(m.step()), settings.stepTimeout());
                    return stepping(m, new HashSet<>(), new double[] {0}, new int[] {0}, new ArrayList<>());
                })
                .onMessage(LeaderCommand.Reform.class, this::reform)
                .onMessage(LeaderCommand.StepReport.class, m -> Behaviors.same()) // of a step given up when a node was lost
                .onMessage(LeaderCommand.StateLoaded.class, m -> Behaviors.same()) // of a state broadcast given up when a node was lost
                .onMessage(LeaderCommand.BroadcastState.class, m -> {
                    if (!lost.isEmpty()) {
                        m.done().completeExceptionally(new IllegalStateException("node(s) " + String.join(", ", lost) + " left the cluster"));
                        return Behaviors.same();
                    }
                    if (workers.isEmpty()) {
                        m.done().complete(null);
                        return Behaviors.same();
                    }
                    for (Worker w : workers) w.ref().tell(new NodeCommand.LoadState(m.frames(), m.bytes(), m.id()));
                    timers.startSingleTimer(new LeaderCommand.StateDeadline(), settings.stepTimeout());
                    Set<String> waiting = new HashSet<>();
                    for (Worker w : workers) waiting.add(w.node());
                    return loadingState(waiting, m.done());
                })
                .onMessage(LeaderCommand.MemberGone.class, this::onGone)
                .onMessage(LeaderCommand.Join.class, this::onJoinWhileTraining)
                .onMessage(LeaderCommand.DataReady.class, m -> onDataReadyWhileTraining(m, Moment.BETWEEN_STEPS))
                .onMessage(LeaderCommand.Stop.class, this::onStop)
                .build();
    }

    private Behavior<LeaderCommand> loadingState(Set<String> waiting, CompletableFuture<Void> done) {
        return Behaviors.receive(LeaderCommand.class)
                .onMessage(LeaderCommand.StepReport.class, m -> Behaviors.same()) // of a step given up when a node was lost
                .onMessage(LeaderCommand.StateLoaded.class, m -> {
                    if (!m.error().isEmpty()) {
                        timers.cancelAll();
                        done.completeExceptionally(new IllegalStateException("node " + m.node() + " could not load the job's state: " + m.error()));
                        return training();
                    }
                    waiting.remove(m.node());
                    if (!waiting.isEmpty()) return Behaviors.same();
                    timers.cancelAll();
                    done.complete(null);
                    return training();
                })
                .onMessage(LeaderCommand.MemberGone.class, m -> {
                    onGone(m);
                    if (lost.isEmpty()) return Behaviors.same();
                    timers.cancelAll();
                    done.completeExceptionally(new NodesLostException("node " + m.node() + " " + m.why() + " while the nodes took the job's state"));
                    return training();
                })
                .onMessage(LeaderCommand.StateDeadline.class, m -> {
                    done.completeExceptionally(new IllegalStateException("node(s) " + String.join(", ", waiting) + " did not load the job's state within "
                            + settings.stepTimeout().toSeconds() + " s"));
                    return training();
                })
                .onMessage(LeaderCommand.Join.class, this::onJoinWhileTraining)
                .onMessage(LeaderCommand.DataReady.class, m -> onDataReadyWhileTraining(m, Moment.REFORMING))
                .onMessage(LeaderCommand.Stop.class, m -> {
                    done.completeExceptionally(new IllegalStateException("the job stopped while the nodes took its state"));
                    return onStop(m);
                })
                .build();
    }

    /**
     * {@code ringFailures}: workers whose ring broke (a neighbour is gone); the step then waits for
     * the split-brain resolver to down the lost node, and only a deadline without one fails it.
     */
    private Behavior<LeaderCommand> stepping(LeaderCommand.StartStep step, Set<String> reported, double[] loss, int[] rows, List<String> ringFailures) {
        return Behaviors.receive(LeaderCommand.class)
                .onMessage(LeaderCommand.StepReport.class, m -> m.step() == step.step(), m -> {
                    if (m.ringFailure()) {
                        ringFailures.add(m.node() + ": " + m.error());
                        return Behaviors.same();
                    }
                    if (!m.error().isEmpty()) return endStep(step, Double.NaN, "node " + m.node() + " failed in step " + m.step() + ": " + m.error());
                    reported.add(m.node());
                    loss[0] += m.weightedLoss();
                    for (int i = 0; i < workers.size(); i++) if (workers.get(i).node().equals(m.node())) rows[0] += step.workerRows().get(i).rows();
                    return reported.size() == workers.size() ? endStep(step, loss[0], "") : Behaviors.same();
                })
                .onMessage(LeaderCommand.StepReport.class, m -> Behaviors.same()) // of a step given up earlier
                .onMessage(LeaderCommand.MemberGone.class, m -> {
                    onGone(m);
                    if (lost.isEmpty()) return Behaviors.same();
                    timers.cancelAll();
                    step.replyTo().tell(new LeaderCommand.StepGathered(step.step(), loss[0], "", List.copyOf(lost), rows[0]));
                    return training();
                })
                .onMessage(LeaderCommand.StepDeadline.class, m -> m.step() == step.step(), m -> {
                    List<String> missing = new ArrayList<>();
                    for (Worker w : workers) if (!reported.contains(w.node())) missing.add(w.node());
                    return endStep(step, Double.NaN, "node(s) " + String.join(", ", missing) + " did not report step " + step.step() + " within "
                            + settings.stepTimeout().toSeconds() + " s" + (ringFailures.isEmpty() ? ""
                            : "; the ring broke (" + String.join("; ", ringFailures) + ") but no node was downed"));
                })
                .onMessage(LeaderCommand.Join.class, this::onJoinWhileTraining)
                .onMessage(LeaderCommand.DataReady.class, m -> onDataReadyWhileTraining(m, Moment.IN_A_STEP))
                .onMessage(LeaderCommand.Stop.class, this::onStop)
                .build();
    }

    private Behavior<LeaderCommand> endStep(LeaderCommand.StartStep step, double loss, String error) {
        timers.cancelAll();
        step.replyTo().tell(new LeaderCommand.StepGathered(step.step(), loss, error));
        return training();
    }

    /** Forms the ring again from the nodes that remain: ranks in the old order, the coordinator 0. */
    private Behavior<LeaderCommand> reform(LeaderCommand.Reform m) {
        generation++;
        workers.removeIf(w -> lost.contains(w.node()));
        String gone = String.join(", ", lost), joined = String.join(", ", joiners.stream().map(Worker::node).toList());
        lost.clear();
        workers.addAll(joiners);
        joiners.clear();
        job.joinersWaiting().set(false);
        RingPlan plan;
        try {
            plan = tellRing();
        } catch (RuntimeException e) { // NCCL: no new id
            m.replyTo().tell(new LeaderCommand.Reformed(null, "the ring could not be formed again: " + e.getMessage()));
            return stopped();
        }
        int k = plan.size();
        job.out().println("the job goes on with " + k + (k == 1 ? " node" : " nodes") + (gone.isEmpty() ? "" : " (without " + gone + ")")
                + (joined.isEmpty() ? "" : " (with " + joined + ", which joined)"));
        if (workers.isEmpty()) {
            m.replyTo().tell(new LeaderCommand.Reformed(plan, ""));
            return training();
        }
        Set<String> waiting = new HashSet<>();
        for (Worker w : workers) waiting.add(w.node());
        timers.startSingleTimer(new LeaderCommand.JoinDeadline(), settings.joinTimeout());
        return reforming(waiting, plan, m.replyTo());
    }

    private Behavior<LeaderCommand> reforming(Set<String> waiting, RingPlan plan, ActorRef<LeaderCommand.Reformed> replyTo) {
        return Behaviors.receive(LeaderCommand.class)
                .onMessage(LeaderCommand.RingReady.class, m -> m.generation() == generation, m -> {
                    waiting.remove(m.node());
                    if (!waiting.isEmpty()) return Behaviors.same();
                    timers.cancelAll();
                    replyTo.tell(new LeaderCommand.Reformed(plan, ""));
                    return training();
                })
                .onMessage(LeaderCommand.MemberGone.class, m -> {
                    onGone(m);
                    if (lost.isEmpty()) return Behaviors.same();
                    job.out().println("node " + m.node() + " " + m.why() + " while the ring re-formed: forming it again without it");
                    timers.cancelAll();
                    return reform(new LeaderCommand.Reform(replyTo)); // the next generation; answers of this one are passed over
                })
                .onMessage(LeaderCommand.RingReady.class, m -> Behaviors.same())
                .onMessage(LeaderCommand.JoinDeadline.class, m -> {
                    replyTo.tell(new LeaderCommand.Reformed(null, "the ring did not re-form within " + settings.joinTimeout().toSeconds()
                            + " s: no data channel connection from " + String.join(", ", waiting)));
                    return stopped();
                })
                .onMessage(LeaderCommand.StepReport.class, m -> Behaviors.same())
                .onMessage(LeaderCommand.StateLoaded.class, m -> Behaviors.same())
                .onMessage(LeaderCommand.Join.class, this::onJoinWhileTraining)
                .onMessage(LeaderCommand.DataReady.class, m -> onDataReadyWhileTraining(m, Moment.REFORMING))
                .onMessage(LeaderCommand.Stop.class, m -> {
                    replyTo.tell(new LeaderCommand.Reformed(null, "the job stopped"));
                    return onStop(m);
                })
                .build();
    }

    private Behavior<LeaderCommand> onGone(LeaderCommand.MemberGone m) {
        Worker pending = checking.remove(m.node());
        for (Worker j : joiners) if (j.node().equals(m.node())) pending = j;
        for (Worker j : arriving) if (j.node().equals(m.node())) pending = j;
        if (pending != null) {
            joiners.remove(pending);
            arriving.remove(pending);
            if (joiners.isEmpty()) job.joinersWaiting().set(false);
            job.out().println("node " + m.node() + " left before it took part: it " + m.why());
        }
        for (Worker w : workers) {
            if (w.node().equals(m.node()) && lost.add(m.node())) job.out().println("node " + m.node() + " left: it " + m.why());
        }
        return Behaviors.same();
    }

    private Behavior<LeaderCommand> onStop(LeaderCommand.Stop m) {
        for (Worker w : workers) if (!lost.contains(w.node())) w.ref().tell(new NodeCommand.Finish(m.reason()));
        for (Worker w : checking.values()) w.ref().tell(new NodeCommand.Finish(m.reason()));
        for (Worker w : joiners) w.ref().tell(new NodeCommand.Finish(m.reason()));
        for (Worker w : arriving) w.ref().tell(new NodeCommand.Finish(m.reason()));
        m.done().complete(null);
        return stopped();
    }

    private Behavior<LeaderCommand> stopped() {
        timers.cancelAll();
        return Behaviors.receive(LeaderCommand.class)
                .onMessage(LeaderCommand.Stop.class, m -> {
                    m.done().complete(null);
                    return Behaviors.same();
                })
                .onMessage(LeaderCommand.StartStep.class, m -> {
                    m.replyTo().tell(new LeaderCommand.StepGathered(m.step(), Double.NaN, "the cluster job has stopped"));
                    return Behaviors.same();
                })
                .onMessage(LeaderCommand.BroadcastState.class, m -> {
                    m.done().completeExceptionally(new IllegalStateException("the cluster job has stopped"));
                    return Behaviors.same();
                })
                .onMessage(LeaderCommand.Reform.class, m -> {
                    m.replyTo().tell(new LeaderCommand.Reformed(null, "the cluster job has stopped"));
                    return Behaviors.same();
                })
                .onMessage(LeaderCommand.class, m -> Behaviors.same())
                .build();
    }
}
