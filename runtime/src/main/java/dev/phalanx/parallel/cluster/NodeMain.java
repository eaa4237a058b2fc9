package dev.phalanx.parallel.cluster;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.apache.pekko.actor.typed.ActorSystem;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceChoice;

/**
 * {@code phalanx node --join HOST:PORT}: a worker node. It joins the coordinator's cluster,
 * gets the job's recipe from it, trains its rows of every batch on its replicas, and leaves
 * the cluster when the job ends. Returns the process's exit code.
 */
public final class NodeMain {

    /** How long the node takes to leave the cluster before it exits anyway. */
    static final Duration LEAVE_TIMEOUT = Duration.ofSeconds(15);

    /** What a node that was downed says (it cannot tell a partition from a long pause of its own). */
    static final String DOWNED = "phalanx node: this node was removed from the cluster: it lost contact with the majority of the nodes "
            + "(a network partition, or a long pause of this process), and the split-brain resolver keeps the majority; "
            + "the job goes on there without this node, which stops";

    private NodeMain() { }

    /**
     * Once a job has ended well, the nodes shut down at about the same time, and whichever goes
     * second sees its connections to the other aborted: Pekko logs each aborted stream as a
     * warning, which would end a successful run with alarming lines. Only errors are logged from
     * here on.
     */
    static void quietShutdown(ActorSystem<?> system) {
        system.classicSystem().eventStream().setLogLevel(org.apache.pekko.event.Logging.ErrorLevel());
    }

    /**
     * {@code join}: the coordinator's HOST:PORT. The node listens on the settings' bind host and
     * port. Its replicas go on {@code device} (cpu, cuda, cuda:N, auto, sim:N; null: auto): one per
     * GPU over several GPUs unless {@code replicas} (null: not given) says how many, else one. On
     * GPUs the node can join a job whose nodes sum with NCCL.
     */
    public static int run(ClusterSettings settings, String join, Integer replicas, int threads, Path data, String device, PrintStream out,
                          PrintStream err) throws Exception {
        if (replicas != null && replicas < 1) throw new IllegalArgumentException("--replicas must be >= 1, got " + replicas);
        if (threads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
        String where = device == null ? "auto" : device;
        List<Device> devices = DeviceChoice.resolve(DeviceChoice.parse(where, "--device")).placement(replicas == null ? 1 : replicas, replicas != null);
        return run(settings, join, new NodeAgent.Options(threads, data, where, devices, RankGroups.forDevices(devices), out, err));
    }

    /** With the node's options resolved: tests give {@code options.groups()} a communicator of their own. */
    static int run(ClusterSettings settings, String join, NodeAgent.Options options) throws Exception {
        PrintStream err = options.err();
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        ActorSystem<Void> system = null;
        TcpDataChannel channel = null;
        try {
            system = ActorSystem.create(org.apache.pekko.actor.typed.javadsl.Behaviors.empty(), ClusterSettings.SYSTEM_NAME, settings.pekko(join));
            channel = TcpDataChannel.bind(system, settings.bindHost(), settings.dataPort(), settings.joinTimeout(),
                    DataChannelTls.of(settings.tls()));
            TcpDataChannel ch = channel;
            system.systemActorOf(NodeAgent.create(settings, options, ch, exit), "node",
                    org.apache.pekko.actor.typed.Props.empty());
            // the minority side of a partition (or a node paused too long) is downed by the split-brain resolver: it stops, saying so
            org.apache.pekko.cluster.Cluster.get(org.apache.pekko.actor.typed.javadsl.Adapter.toClassic(system)).registerOnMemberRemoved(() -> {
                if (exit.complete(1)) err.println(DOWNED);
            });
            int code = exit.get();
            return code;
        } finally {
            if (channel != null) channel.close();
            if (system != null && exit.isDone() && exit.getNow(1) == 0) quietShutdown(system);
            if (system != null) {
                system.terminate(); // runs the coordinated shutdown: the node leaves the cluster first
                try {
                    system.getWhenTerminated().toCompletableFuture().get(LEAVE_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                } catch (Exception e) {
                    err.println("phalanx node: did not leave the cluster within " + LEAVE_TIMEOUT.toSeconds() + " s; exiting anyway");
                }
            }
        }
    }
}
