package dev.phalanx.parallel.cluster;

import java.io.PrintStream;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import dev.phalanx.data.Batch;
import dev.phalanx.data.ImageDataset;
import dev.phalanx.kernels.Device;
import dev.phalanx.parallel.Coordinator;
import dev.phalanx.parallel.DataParallel;
import dev.phalanx.parallel.Replica;
import dev.phalanx.parallel.Shards;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.train.Recipe;
import dev.phalanx.train.StepRunner;

/**
 * The coordinator's side of cluster mode ({@code phalanx train --nodes K}): this node is the
 * seed, hosts the {@link JobLeader} and its own replicas (rank 0 of the ring). Each step it
 * splits the batch over the nodes ({@code torch.chunk}), trains its own rows, and has each
 * worker train its rows, which the worker reads from its own copy of the data set. Only this
 * node writes checkpoints: the training loop that owns this runner is the only one.
 */
public final class ClusterSteps implements StepRunner {

    private int nodes; // the ring's size: fewer once nodes were lost, more once nodes joined
    private int replicasInRing; // on all the ring's nodes
    private final List<Device> devices; // this node's replicas'
    private final RankGroups groups; // this node's communicator when the nodes sum with NCCL; null: the ring sums
    private final java.util.concurrent.atomic.AtomicBoolean joinersWaiting; // set by the JobLeader: nodes wait to enter the ring
    private final CompletableFuture<String> downed; // completes, with why, when this node is removed from the cluster
    private final String self;
    private final ActorSystem<Void> system;
    private final ActorRef<LeaderCommand> leader;
    private final TcpDataChannel channel;
    private final ClusterAllReduce allReduce;
    private final DataParallel replicas;
    private final Duration stepTimeout;
    private final PrintStream out;
    private final int replicasHere;
    private final Recipe recipe;
    private final long gradientBytes;
    private long steps, wallNanos, outsideNanos;
    private long broadcasts; // the state broadcasts so far: each numbers its frames
    private long bytesAtFirstStep = -1; // on the data channel
    private String stopReason = ""; // empty: the job ended as planned

    private ClusterSteps(JobLeader.RingPlan plan, String self, ActorSystem<Void> system, ActorRef<LeaderCommand> leader, TcpDataChannel channel,
                         ClusterAllReduce allReduce, DataParallel replicas, List<Device> devices, RankGroups groups, Duration stepTimeout, PrintStream out,
                         Recipe recipe, long gradientBytes, java.util.concurrent.atomic.AtomicBoolean joinersWaiting, CompletableFuture<String> downed) {
        this.joinersWaiting = joinersWaiting;
        this.devices = devices;
        this.groups = groups;
        this.replicasInRing = plan.replicas();
        this.downed = downed;
        this.nodes = plan.size();
        this.self = self;
        this.system = system;
        this.leader = leader;
        this.channel = channel;
        this.allReduce = allReduce;
        this.replicas = replicas;
        this.stepTimeout = stepTimeout;
        this.out = out;
        this.recipe = recipe;
        this.replicasHere = devices.size();
        this.gradientBytes = gradientBytes;
    }

    /**
     * Starts the cluster on the settings' bind address, waits until {@code nodes} nodes (this one
     * included) have joined with the same data set and formed the ring, and returns the runner.
     */
    public static ClusterSteps start(Recipe recipe, ImageDataset train, ClusterSettings settings, int nodes, PrintStream out) throws Exception {
        List<Device> devices = dev.phalanx.train.Trainer.devices(recipe);
        return start(recipe, train, settings, nodes, out, devices, RankGroups.forDevices(devices));
    }

    /**
     * As {@link #start(Recipe, ImageDataset, ClusterSettings, int, PrintStream)}, with this node's
     * replicas on {@code devices}, and the nodes summing with the communicators of {@code groups}
     * (this node makes their ids, as rank 0), or on the ring when it is null.
     */
    static ClusterSteps start(Recipe recipe, ImageDataset train, ClusterSettings settings, int nodes, PrintStream out, List<Device> devices,
                              RankGroups groups) throws Exception {
        if (nodes < 1) throw new IllegalArgumentException("--nodes must be >= 1, got " + nodes);
        if (groups != null && recipe.reproducible()) {
            throw new IllegalArgumentException("the reproducible mode sums the sample tree on the ring of data channels, and runs on the cpu; "
                    + groups.describe() + " cannot keep its order: train with --device cpu, or without --reproducible");
        }
        if (recipe.batchSize() < nodes) {
            throw new IllegalArgumentException("a batch of " + recipe.batchSize() + " rows cannot be split over " + nodes + " nodes; use --batch-size "
                    + nodes + " or more");
        }
        String self = settings.bindHost() + ":" + settings.bindPort();
        String digest = ClusterJob.digest(train);
        CompletableFuture<JobLeader.RingPlan> formed = new CompletableFuture<>();
        CompletableFuture<Void> ready = new CompletableFuture<>();
        java.util.concurrent.atomic.AtomicBoolean joinersWaiting = new java.util.concurrent.atomic.AtomicBoolean();
        ActorSystem<Void> system = null;
        TcpDataChannel channel = null;
        ClusterAllReduce allReduce = null;
        try {
            system = ActorSystem.create(Behaviors.empty(), ClusterSettings.SYSTEM_NAME, settings.pekko(self));
            channel = TcpDataChannel.bind(system, settings.bindHost(), settings.dataPort(), settings.joinTimeout(),
                    DataChannelTls.of(settings.tls()));
            ActorRef<LeaderCommand> leader = system.systemActorOf(JobLeader.create(settings, new JobLeader.Job(nodes, recipe.render(), digest, self,
                    settings.bindHost(), channel.localAddress().getPort(), formed, ready, out, joinersWaiting, groups, devices.size())), "job-leader",
                    Props.empty());
            out.println("Coordinator at " + self + ": waiting for " + (nodes - 1) + " more node(s) (phalanx node --join " + self + ")");
            JobLeader.RingPlan plan = await(formed, settings.joinTimeout().plusSeconds(30), ready);
            if (nodes > 1) channel.connect(plan.rightHost(), plan.rightPort(), settings.joinTimeout());
            await(ready, settings.joinTimeout().plusSeconds(30), ready);
            CompletableFuture<String> downed = new CompletableFuture<>();
            org.apache.pekko.cluster.Cluster.get(org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(system)).registerOnMemberRemoved(() -> downed.complete(
                    "this node (the coordinator) was removed from the cluster: it lost contact with the majority of the nodes (a network partition, "
                    + "or a long pause of this process), and the split-brain resolver keeps the majority; the job stops with its last checkpoint "
                    + "(continue it on a new cluster with --resume)"));
            allReduce = new ClusterAllReduce(devices.size(), ClusterJob.bucketCount(recipe),
                    ClusterJob.crossNodeSum(0, plan.size(), plan.ncclUniqueId(), groups, channel), settings.stepTimeout());
            DataParallel dp = ClusterJob.dataParallel(recipe, devices, allReduce, settings.stepTimeout());
            long params = 0;
            for (Tensor p : dev.phalanx.bench.ModelZoo.get(recipe.model()).build(new dev.phalanx.tensor.Generator(0)).parameters()) params += p.numel();
            return new ClusterSteps(plan, self, system, leader, channel, allReduce, dp, devices, groups, settings.stepTimeout(), out, recipe,
                    params * Float.BYTES, joinersWaiting, downed);
        } catch (Exception | Error e) {
            if (allReduce != null) allReduce.close();
            if (channel != null) channel.close();
            if (system != null) {
                system.terminate();
                system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
            throw e;
        }
    }

    /** Waits for {@code f}; a failure of {@code ready} first (the join deadline, a node lost) is the error. */
    private static <T> T await(CompletableFuture<T> f, Duration timeout, CompletableFuture<Void> ready) throws Exception {
        try {
            CompletableFuture.anyOf(f, ready).get(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (ready.isCompletedExceptionally()) ready.join();
            return f.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (CompletionException | ExecutionException e) {
            if (e.getCause() instanceof Exception c) throw c;
            throw e;
        }
    }

    @Override
    public Result step(Tensor inputs, Tensor labels) {
        throw new UnsupportedOperationException("cluster mode steps by batch position (epoch, batch index), so workers read their own rows");
    }

    @Override
    public Result step(int epoch, Batch batch) {
        try {
            return clusterStep(epoch, batch);
        } catch (RuntimeException e) {
            stopReason = e.getMessage();
            throw e;
        }
    }

    /**
     * One step of the batch over the nodes. When nodes are lost meanwhile (downed by the
     * split-brain resolver), the ring is formed again without them, every node takes the
     * coordinator's state, and the step is retried on the nodes that remain, unless the
     * coordinator had already applied it (then the sums were complete, and the step is done).
     */
    private Result clusterStep(int epoch, Batch batch) {
        while (true) {
            Result r = attempt(epoch, batch);
            if (r != null) return r;
            out.println("step of batch " + batch.index() + " retried on " + nodes + (nodes == 1 ? " node" : " nodes"));
        }
    }

    /** The step's result, or null when nodes were lost and the step is to be retried on those that remain. */
    private Result attempt(int epoch, Batch batch) {
        if (joinersWaiting.get()) { // at a step boundary: they enter the ring and take the job's state
            reformAndSync("nodes joined");
            out.println(nodes + (nodes == 1 ? " node" : " nodes") + " (" + replicasInRing + (replicasInRing == 1 ? " replica" : " replicas")
                    + ") compute from batch " + (batch.index() + 1) + " of epoch " + (epoch + 1) + " on");
        }
        long id = ++steps; // a retry gets a new number: frames left from the attempt that failed are told apart
        int rows = batch.size(), k = nodes;
        List<Shards.Range> ranges = Shards.split(rows, k);
        if (ranges.size() < k) {
            throw new IllegalArgumentException("batch " + batch.index() + " has " + rows + " rows, fewer than the " + k + " nodes");
        }
        if (id == 2) bytesAtFirstStep = channel.bytesSent(); // the first step warms up; count from the second
        CompletionStage<LeaderCommand.StepGathered> others = AskPattern.ask(leader,
                (ActorRef<LeaderCommand.StepGathered> r) -> new LeaderCommand.StartStep(id, epoch, batch.index(), rows, ranges.subList(1, k), r),
                stepTimeout.plusSeconds(10), system.scheduler());
        Shards.Range mine = ranges.get(0);
        float share = mine.rows() / (float) rows;
        allReduce.beginStep(id, share);
        CompletableFuture<Coordinator.StepOutcome> mineDone = replicas.stepWithOutputs(batch.inputs().narrow(0, 0, mine.rows()),
                batch.labels().narrow(0, 0, mine.rows()), new Coordinator.GlobalRows(0, rows)).toCompletableFuture();
        CompletableFuture<LeaderCommand.StepGathered> othersDone = others.toCompletableFuture();
        // a worker that fails or is lost ends the step at once: this node's ring would only wait for it until its timeout
        CompletableFuture.anyOf(mineDone, othersDone.thenCompose(g -> g.error().isEmpty() && g.lost().isEmpty() ? new CompletableFuture<>()
                : CompletableFuture.completedFuture(g)), downed).exceptionally(e -> null).join();
        if (downed.isDone()) {
            allReduce.abort(downed.join(), channel);
            throw new IllegalStateException(downed.join());
        }
        if (mineDone.isCompletedExceptionally() && !allReduce.ringFailed()) throw localFailure(id, mineDone); // this node's own error
        LeaderCommand.StepGathered g;
        try {
            g = othersDone.join(); // a broken ring: the verdict (a node downed, or the deadline) decides
        } catch (CompletionException e) {
            throw new IllegalStateException("cluster step " + id + ": the workers did not answer: " + e.getCause().getMessage(), e.getCause());
        }
        if (!g.lost().isEmpty()) return recover(id, g, mineDone, rows, mine.rows(), share);
        if (!g.error().isEmpty()) throw new IllegalStateException("cluster step " + id + " failed: " + g.error());
        if (mineDone.isCompletedExceptionally()) throw localFailure(id, mineDone);
        Coordinator.StepOutcome local = mineDone.join();
        if (local.timing() != null && id > 1) {
            wallNanos += local.timing().wallNanos();
            outsideNanos += local.timing().outsideComputeNanos();
        }
        return new Result((float) (ClusterJob.weightedLoss(recipe, local.loss(), share) + g.weightedLoss()), null);
    }

    private static IllegalStateException localFailure(long id, CompletableFuture<Coordinator.StepOutcome> mineDone) {
        try {
            mineDone.join();
            throw new IllegalStateException("cluster step " + id + " did not fail");
        } catch (RuntimeException e) { // DataParallel's futures fail with the step's own exception
            Throwable cause = e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
            return new IllegalStateException("cluster step " + id + " failed on the coordinator's replicas: " + cause.getMessage(), cause);
        }
    }

    /**
     * Nodes were lost in step {@code id}: the ring is aborted everywhere and formed again without
     * them, and every node takes the coordinator's state (a worker may have applied the step while
     * the coordinator did not, or the other way round: the coordinator's state is the job's).
     * Returns the step's result when the coordinator had applied it, else null: retry.
     */
    private Result recover(long id, LeaderCommand.StepGathered g, CompletableFuture<Coordinator.StepOutcome> mineDone, int rows, int mineRows, float share) {
        String who = String.join(", ", g.lost());
        out.println("node(s) " + who + " lost in step " + id + ": re-forming the ring without them");
        allReduce.abort("node(s) " + who + " lost", channel);
        Coordinator.StepOutcome local;
        try {
            local = mineDone.get(stepTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            local = null; // the step failed here: nothing was applied
        } catch (Exception e) {
            throw new IllegalStateException("after node(s) " + who + " were lost, this node's replicas did not leave step " + id + ": " + e, e);
        }
        reformAndSync("node(s) " + who + " were lost in step " + id);
        if (local == null) return null;
        // the coordinator applied the step: the sums were complete; the loss of the lost nodes' rows is not known
        int reported = mineRows + g.rowsReported();
        double loss = ClusterJob.weightedLoss(recipe, local.loss(), share) + g.weightedLoss();
        out.println("step " + id + " was applied before node(s) " + who + " were lost; its logged loss covers " + reported + " of its " + rows + " rows");
        return new Result((float) (loss * rows / reported), null);
    }

    @Override
    public Tensor forward(Tensor inputs) {
        return replicas.forward(inputs);
    }

    @Override
    public Replica.Snapshot snapshot() {
        return replicas.snapshot();
    }

    /**
     * Resuming: this node's replicas load the checkpoint's state, and every worker gets it round
     * the ring on the data channel ({@link StateBroadcast}), never as a cluster message.
     */
    @Override
    public void load(Replica.Snapshot state) {
        replicas.load(state);
        broadcast(state);
    }

    /**
     * Forms the ring again (nodes lost, or joined; {@code why}): once this node's ring has left
     * any step, its channel is drained, the JobLeader tells every worker its new place, and this
     * node connects to its new right neighbour.
     */
    private void reformRing(String why) {
        try {
            allReduce.awaitIdle(stepTimeout);
            channel.drain();
            LeaderCommand.Reformed reformed = AskPattern.<LeaderCommand, LeaderCommand.Reformed>ask(leader, LeaderCommand.Reform::new,
                    stepTimeout.plusSeconds(30), system.scheduler()).toCompletableFuture().get();
            if (!reformed.error().isEmpty()) throw new IllegalStateException(reformed.error());
            JobLeader.RingPlan plan = reformed.plan();
            if (plan.size() > 1) channel.connect(plan.rightHost(), plan.rightPort(), stepTimeout);
            allReduce.use(ClusterJob.crossNodeSum(0, plan.size(), plan.ncclUniqueId(), groups, channel));
            nodes = plan.size();
            replicasInRing = plan.replicas();
        } catch (Exception e) {
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            throw new IllegalStateException(why + " and the ring could not be formed again: " + cause.getMessage(), cause);
        }
    }

    /**
     * Forms the ring again and has every node take the coordinator's state; nodes lost while the
     * state goes round are left out in another round.
     */
    private void reformAndSync(String why) {
        while (true) {
            reformRing(why);
            try {
                broadcast(replicas.snapshot());
                return;
            } catch (IllegalStateException e) {
                if (!(e.getCause() instanceof JobLeader.NodesLostException lost)) throw e;
                out.println(lost.getMessage() + ": re-forming the ring without it");
                why = lost.getMessage();
            }
        }
    }

    /** Every worker takes {@code state} from the data channel and loads it. */
    private void broadcast(Replica.Snapshot state) {
        if (nodes == 1) return;
        byte[] bytes = StateBroadcast.encode(state);
        CompletableFuture<Void> done = new CompletableFuture<>();
        long id = ++broadcasts;
        leader.tell(new LeaderCommand.BroadcastState(StateBroadcast.frames(bytes), bytes.length, id, done));
        StateBroadcast.send(channel, id, bytes);
        try {
            done.get(stepTimeout.plusSeconds(10).toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new IllegalStateException("sending the job's state to the nodes: " + e.getCause().getMessage(), e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("the nodes did not load the job's state within " + stepTimeout.plusSeconds(10).toSeconds() + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while the nodes loaded the job's state", e);
        }
        out.println("every node loaded the job's state (" + bytes.length + " bytes on the data channel)");
    }

    @Override
    public String describe() {
        return "Using " + nodes + " nodes (coordinator " + self + " with " + replicasHere + (replicasHere == 1 ? " replica" : " replicas")
                + " on " + ClusterJob.describe(devices) + ", " + dev.phalanx.train.Trainer.modeName(recipe.reproducible()) + "); gradients by "
                + allReduce.describe();
    }

    /**
     * Bytes this node sent on the data channel per step (after the first), next to the ring's bound
     * 2(N-1)/N of the gradients; none when NCCL sums them.
     */
    public String traffic() {
        long counted = steps - 1;
        if (counted < 1 || bytesAtFirstStep < 0) return "data channel: too few steps to measure";
        double perStep = (channel.bytesSent() - bytesAtFirstStep) / (double) counted;
        if (groups != null) {
            return String.format(Locale.ROOT, "data channel: %.0f bytes sent per step by this node (the gradients are summed by %s, "
                    + "not on the data channel); %.1f %% of each step outside compute", perStep, allReduce.describe(),
                    wallNanos == 0 ? 0 : 100.0 * outsideNanos / wallNanos);
        }
        double bound = 2.0 * (nodes - 1) / nodes * gradientBytes;
        return String.format(Locale.ROOT, "data channel: %.0f bytes sent per step by this node (ring bound 2(N-1)/N x %d gradient bytes = %.0f); "
                + "%.1f %% of each step outside compute%s", perStep, gradientBytes, bound, wallNanos == 0 ? 0 : 100.0 * outsideNanos / wallNanos,
                recipe.reproducible() ? " (the reproducible mode passes the sample tree's pieces round the ring: more than the bound)" : "");
    }

    /** How long the coordinator waits, at the end, for the workers to leave (each worker gives itself {@link NodeMain#LEAVE_TIMEOUT}). */
    static final Duration WORKERS_LEAVE_TIMEOUT = Duration.ofSeconds(15);

    /**
     * Waits until every worker has left the cluster, printing a line for each, before this node
     * shuts down: shutting down first would break the workers' connections mid-leave (Pekko
     * logs every aborted stream) and leave the job's end unsaid.
     */
    private void awaitWorkersLeaving() throws InterruptedException {
        org.apache.pekko.cluster.Cluster cluster = org.apache.pekko.cluster.Cluster.get(org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(system));
        java.util.Set<String> waiting = new java.util.TreeSet<>();
        cluster.state().getMembers().forEach(m -> {
            if (!m.address().equals(cluster.selfAddress())) waiting.add(m.address().getHost().orElse("?") + ":" + m.address().getPort().orElse(0));
        });
        long deadline = System.nanoTime() + WORKERS_LEAVE_TIMEOUT.toNanos();
        while (!waiting.isEmpty() && System.nanoTime() < deadline) {
            java.util.Set<String> present = new java.util.HashSet<>();
            cluster.state().getMembers().forEach(m -> {
                if (m.status() != org.apache.pekko.cluster.MemberStatus.removed()) {
                    present.add(m.address().getHost().orElse("?") + ":" + m.address().getPort().orElse(0));
                }
            });
            for (java.util.Iterator<String> it = waiting.iterator(); it.hasNext(); ) {
                String node = it.next();
                if (!present.contains(node)) {
                    out.println("node " + node + " left: the job is over");
                    it.remove();
                }
            }
            if (!waiting.isEmpty()) Thread.sleep(100);
        }
        if (!waiting.isEmpty()) {
            out.println("warning: node(s) " + String.join(", ", waiting) + " did not leave within " + WORKERS_LEAVE_TIMEOUT.toSeconds() + " s");
        } else {
            NodeMain.quietShutdown(system);
        }
    }

    @Override
    public void close() {
        try {
            if (nodes > 1 && steps > 1) out.println(traffic());
            CompletableFuture<Void> done = new CompletableFuture<>();
            leader.tell(new LeaderCommand.Stop(stopReason == null ? "the coordinator stopped" : stopReason, done));
            done.get(10, TimeUnit.SECONDS);
            Thread.sleep(500); // the Finish messages go out before the cluster shuts down
            awaitWorkersLeaving();
        } catch (Exception e) {
            out.println("warning: could not tell every node that the job is over: " + e.getMessage());
        } finally {
            allReduce.close(); // first: a replica waiting on the ring is released
            replicas.close();
            channel.close();
            system.terminate();
            try {
                system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                out.println("warning: the cluster did not shut down within 30 s");
            }
        }
    }
}
