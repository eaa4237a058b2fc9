package dev.phalanx.parallel.cluster;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Subscribe;

import dev.phalanx.data.ImageDataset;
import dev.phalanx.kernels.Device;
import dev.phalanx.parallel.DataParallel;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.train.Recipe;
import dev.phalanx.train.Trainer;

/**
 * A worker node's actor ({@code phalanx node --join}). Its behaviours, one per state:
 * <ul>
 * <li>{@link #findingLeader}: waits for the coordinator to appear in the receptionist, then asks to join;</li>
 * <li>{@link #awaitingRecipe}: the coordinator checks the secret and sends the job's recipe; the
 * node finds its own copy of the data set and answers with its digest;</li>
 * <li>{@link #awaitingRing}: connects its data channel to its right neighbour;</li>
 * <li>{@link #training}: trains on the rows each step names, its replicas summing through the ring;
 * on a resumed job it first takes the checkpoint's state from the data channel.</li>
 * </ul>
 * It ends by completing {@code exit} with the process's exit code.
 */
final class NodeAgent {

    /**
     * What the command line gave the node: {@code device} as {@code --device} names it (cpu, cuda,
     * auto, sim:N), {@code devices} where that puts its replicas on this machine, {@code groups}
     * its communicator for jobs that sum with NCCL (null: its replicas are not on GPUs).
     */
    record Options(int threads, Path data, String device, List<Device> devices, RankGroups groups, PrintStream out, PrintStream err) {
        int replicas() {
            return devices.size();
        }
    }

    private final ActorContext<NodeCommand> ctx;
    private final TimerScheduler<NodeCommand> timers;
    private final ClusterSettings settings;
    private final Options options;
    private final TcpDataChannel channel;
    private final CompletableFuture<Integer> exit;
    private final String self;
    private Address leaderAddress;
    // the job, once the recipe has come
    private Recipe recipe;
    private List<Device> devices; // where this node's replicas are, for this recipe
    private ImageDataset data;
    private ClusterAllReduce allReduce;
    private DataParallel replicas;
    private final Map<Integer, int[]> orders = new HashMap<>();
    private int rank, ringSize;
    private String replicasOn = ""; // 1 replica on cpu
    private CompletableFuture<?> inFlight = CompletableFuture.completedFuture(null); // this node's part of the step in flight

    static Behavior<NodeCommand> create(ClusterSettings settings, Options options, TcpDataChannel channel, CompletableFuture<Integer> exit) {
        return Behaviors.withTimers(timers -> Behaviors.setup(ctx -> new NodeAgent(ctx, timers, settings, options, channel, exit).findingLeader()));
    }

    private NodeAgent(ActorContext<NodeCommand> ctx, TimerScheduler<NodeCommand> timers, ClusterSettings settings, Options options,
                      TcpDataChannel channel, CompletableFuture<Integer> exit) {
        this.ctx = ctx;
        this.timers = timers;
        this.settings = settings;
        this.options = options;
        this.channel = channel;
        this.exit = exit;
        this.self = JobLeader.node(Cluster.get(ctx.getSystem()).selfMember().address());
    }

    private Behavior<NodeCommand> findingLeader() {
        ActorRef<Receptionist.Listing> listings = ctx.messageAdapter(Receptionist.Listing.class,
                l -> new NodeCommand.LeadersListed(l.getServiceInstances(JobLeader.KEY)));
        ctx.getSystem().receptionist().tell(Receptionist.subscribe(JobLeader.KEY, listings));
        ActorRef<ClusterEvent.MemberRemoved> removed = ctx.messageAdapter(ClusterEvent.MemberRemoved.class,
                e -> e.member().address().equals(leaderAddress) ? new NodeCommand.LeaderGone("left the cluster") : new NodeCommand.LeadersListed(null));
        Cluster.get(ctx.getSystem()).subscriptions().tell(Subscribe.create(removed, ClusterEvent.MemberRemoved.class));
        timers.startSingleTimer(new NodeCommand.JoinDeadline(), settings.joinTimeout());
        return Behaviors.receive(NodeCommand.class)
                .onMessage(NodeCommand.LeadersListed.class, m -> m.leaders() != null && !m.leaders().isEmpty(), m -> {
                    ActorRef<LeaderCommand> leader = m.leaders().iterator().next();
                    leaderAddress = leader.path().address();
                    leader.tell(new LeaderCommand.Join(self, options.replicas(), ClusterJob.describe(options.devices()), settings.secretDigest(),
                            channel.localAddress().getHostString(), channel.localAddress().getPort(), options.groups() != null, ctx.getSelf()));
                    return awaitingRecipe(leader);
                })
                .onMessage(NodeCommand.JoinDeadline.class, m -> exit(1, "phalanx node: no coordinator answered within "
                        + settings.joinTimeout().toSeconds() + " s; is `phalanx train ... --nodes K` running at the address given to --join?"))
                .onMessage(NodeCommand.class, m -> Behaviors.same())
                .build();
    }

    private Behavior<NodeCommand> awaitingRecipe(ActorRef<LeaderCommand> leader) {
        return Behaviors.receive(NodeCommand.class)
                .onMessage(NodeCommand.JobRecipe.class, m -> {
                    String digest = "", error = "";
                    try {
                        Map<String, Object> over = new LinkedHashMap<>();
                        over.put("runtime.replicas", options.replicas());
                        over.put("runtime.device", options.device()); // this node's own, not the coordinator's
                        over.put("runtime.threads", options.threads());
                        if (options.data() != null) over.put("data.path", options.data().toString());
                        recipe = Recipe.parse(m.recipe(), "the coordinator's recipe").with(over);
                        devices = Trainer.devices(recipe); // the reproducible mode keeps auto on the cpu
                        data = Trainer.data(recipe, true, options.out());
                        digest = ClusterJob.digest(data);
                    } catch (Exception e) {
                        error = e.getMessage() == null ? e.toString() : e.getMessage();
                    }
                    leader.tell(new LeaderCommand.DataReady(self, digest, error));
                    return awaitingRing(leader);
                })
                .onMessage(NodeCommand.Refused.class, this::refused)
                .onMessage(NodeCommand.Finish.class, this::finish)
                .onMessage(NodeCommand.LeaderGone.class, this::leaderGone)
                .onMessage(NodeCommand.JoinDeadline.class, m -> exit(1, "phalanx node: the coordinator did not accept this node within "
                        + settings.joinTimeout().toSeconds() + " s"))
                .onMessage(NodeCommand.class, m -> Behaviors.same())
                .build();
    }

    private Behavior<NodeCommand> awaitingRing(ActorRef<LeaderCommand> leader) {
        return Behaviors.receive(NodeCommand.class)
                .onMessage(NodeCommand.RingFormed.class, m -> {
                    timers.cancelAll();
                    try {
                        channel.connect(m.rightHost(), m.rightPort(), settings.joinTimeout());
                        // joining the NCCL communicator (if the coordinator handed out one) goes on in the background
                        CrossNodeSum sums = ClusterJob.crossNodeSum(m.rank(), m.size(), m.ncclUniqueId(), options.groups(), channel);
                        allReduce = new ClusterAllReduce(devices.size(), ClusterJob.bucketCount(recipe), sums, settings.stepTimeout());
                        replicas = ClusterJob.dataParallel(recipe, devices, allReduce, settings.stepTimeout());
                        replicasOn = devices.size() + (devices.size() == 1 ? " replica" : " replicas") + " on " + ClusterJob.describe(devices);
                    } catch (Exception e) {
                        return exit(1, "phalanx node: could not join the ring (data channel to " + m.rightHost() + ":" + m.rightPort() + "): " + e.getMessage());
                    }
                    rank = m.rank();
                    ringSize = m.size();
                    options.out().println("node " + self + ": rank " + m.rank() + " of " + m.size() + ", " + replicasOn + "; gradients by "
                            + allReduce.describe());
                    leader.tell(new LeaderCommand.RingReady(self, m.generation()));
                    return training(leader);
                })
                .onMessage(NodeCommand.Refused.class, this::refused)
                .onMessage(NodeCommand.Finish.class, this::finish)
                .onMessage(NodeCommand.LeaderGone.class, this::leaderGone)
                .onMessage(NodeCommand.JoinDeadline.class, m -> exit(1, "phalanx node: the ring did not form within "
                        + settings.joinTimeout().toSeconds() + " s"))
                .onMessage(NodeCommand.class, m -> Behaviors.same())
                .build();
    }

    private Behavior<NodeCommand> training(ActorRef<LeaderCommand> leader) {
        return Behaviors.receive(NodeCommand.class)
                .onMessage(NodeCommand.RunStep.class, m -> {
                    float share = (m.end() - m.begin()) / (float) m.batchSize();
                    try {
                        int[] order = orders.computeIfAbsent(m.epoch(), e -> ClusterJob.order(data, recipe, e));
                        if (orders.size() > 2) orders.keySet().removeIf(e -> e < m.epoch()); // keep the current epoch's order only
                        Tensor[] rows = ClusterJob.rows(data, order, m.batch(), recipe.batchSize(), m.begin(), m.end());
                        allReduce.beginStep(m.step(), share);
                        CompletableFuture<dev.phalanx.parallel.Coordinator.StepOutcome> local = replicas.stepWithOutputs(rows[0], rows[1],
                                new dev.phalanx.parallel.Coordinator.GlobalRows(m.begin(), m.batchSize())).toCompletableFuture();
                        inFlight = local;
                        ctx.pipeToSelf(local,
                                (o, e) -> new NodeCommand.LocalStepDone(m.step(), e == null ? ClusterJob.weightedLoss(recipe, o.loss(), share) : Double.NaN, e));
                    } catch (RuntimeException e) {
                        ctx.getSelf().tell(new NodeCommand.LocalStepDone(m.step(), Double.NaN, e));
                    }
                    return Behaviors.same();
                })
                .onMessage(NodeCommand.RingFormed.class, m -> {
                    // a node was lost: give up the step in flight, and once this node's replicas have left it, join the new ring
                    allReduce.abort("the ring is re-formed (a node lost or joined)", channel);
                    // after what is in flight: a step, a state broadcast, or the re-forming of an earlier generation
                    CompletableFuture<Void> reforming = inFlight.handle((v, e) -> null).thenRunAsync(() -> {
                        try {
                            allReduce.awaitIdle(settings.stepTimeout());
                            channel.drain();
                            channel.connect(m.rightHost(), m.rightPort(), settings.joinTimeout());
                            allReduce.use(ClusterJob.crossNodeSum(m.rank(), m.size(), m.ncclUniqueId(), options.groups(), channel));
                        } catch (Exception e) {
                            throw new java.util.concurrent.CompletionException(e);
                        }
                    });
                    inFlight = reforming;
                    ctx.pipeToSelf(reforming, (v, e) -> new NodeCommand.Reformed(m.rank(), m.size(), m.generation(), e));
                    return Behaviors.same();
                })
                .onMessage(NodeCommand.Reformed.class, m -> {
                    if (m.error() != null) { // e.g. the new right neighbour was lost too: the coordinator forms the ring again, or stops the job
                        Throwable e = m.error() instanceof java.util.concurrent.CompletionException c && c.getCause() != null ? c.getCause() : m.error();
                        options.err().println("node " + self + ": could not join the re-formed ring: " + e.getMessage());
                        return Behaviors.same();
                    }
                    rank = m.rank();
                    ringSize = m.size();
                    options.out().println("node " + self + ": rank " + rank + " of " + ringSize + " in the re-formed ring");
                    leader.tell(new LeaderCommand.RingReady(self, m.generation()));
                    return Behaviors.same();
                })
                .onMessage(NodeCommand.LoadState.class, m -> {
                    // off the actor's thread: it waits for the frames; the last node of the ring passes nothing on (its right is the coordinator)
                    boolean forward = rank + 1 < ringSize;
                    CompletableFuture<Void> taking = CompletableFuture.runAsync(() -> {
                        try {
                            replicas.load(StateBroadcast.receive(channel, m.id(), m.frames(), forward, settings.stepTimeout()));
                        } catch (Exception e) {
                            throw new java.util.concurrent.CompletionException(e);
                        }
                    });
                    inFlight = taking; // a ring re-formed meanwhile (a node lost) wakes it, and waits for it
                    ctx.pipeToSelf(taking, (v, e) -> new NodeCommand.StateTaken(e));
                    return Behaviors.same();
                })
                .onMessage(NodeCommand.StateTaken.class, m -> {
                    Throwable e = m.error() instanceof java.util.concurrent.CompletionException c && c.getCause() != null ? c.getCause() : m.error();
                    if (e == null) options.out().println("node " + self + ": loaded the job's state from the coordinator");
                    leader.tell(new LeaderCommand.StateLoaded(self, e == null ? "" : String.valueOf(e.getMessage())));
                    return Behaviors.same();
                })
                .onMessage(NodeCommand.LocalStepDone.class, m -> {
                    Throwable e = m.error() instanceof java.util.concurrent.CompletionException c && c.getCause() != null ? c.getCause() : m.error();
                    leader.tell(new LeaderCommand.StepReport(m.step(), self, m.weightedLoss(), e == null ? "" : String.valueOf(e.getMessage()),
                            channel.bytesSent(), e != null && allReduce.ringFailed()));
                    return Behaviors.same();
                })
                .onMessage(NodeCommand.Finish.class, this::finish)
                .onMessage(NodeCommand.LeaderGone.class, this::leaderGone)
                .onMessage(NodeCommand.class, m -> Behaviors.same())
                .build();
    }

    private Behavior<NodeCommand> refused(NodeCommand.Refused m) {
        return exit(1, "phalanx node: refused by the coordinator: " + m.reason());
    }

    private Behavior<NodeCommand> finish(NodeCommand.Finish m) {
        if (m.reason().isEmpty()) {
            options.out().println("node " + self + ": the job is done; leaving the cluster");
            return exit(0, null);
        }
        return exit(1, "phalanx node: the job stopped: " + m.reason());
    }

    private Behavior<NodeCommand> leaderGone(NodeCommand.LeaderGone m) {
        return exit(1, "phalanx node: the coordinator's node " + m.why() + "; this node stops (the coordinator's last checkpoint is the job's state)");
    }

    private Behavior<NodeCommand> exit(int code, String message) {
        if (message != null && !exit.isDone()) options.err().println(message); // a node already downed has said why
        if (allReduce != null) allReduce.close(); // first: a replica waiting on the ring is released
        if (replicas != null) replicas.close();
        exit.complete(code);
        return Behaviors.stopped();
    }
}
