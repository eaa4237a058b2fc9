package dev.phalanx.parallel.cluster;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import org.apache.pekko.actor.typed.ActorSystem;

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

    /** {@code join}: the coordinator's HOST:PORT. The node listens on the settings' bind host and port. */
    public static int run(ClusterSettings settings, String join, int replicas, int threads, Path data, PrintStream out, PrintStream err)
            throws Exception {
        if (replicas < 1) throw new IllegalArgumentException("--replicas must be >= 1, got " + replicas);
        if (threads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
        CompletableFuture<Integer> exit = new CompletableFuture<>();
        ActorSystem<Void> system = null;
        TcpDataChannel channel = null;
        try {
            system = ActorSystem.create(org.apache.pekko.actor.typed.javadsl.Behaviors.empty(), ClusterSettings.SYSTEM_NAME, settings.pekko(join));
            channel = TcpDataChannel.bind(system, settings.bindHost(), settings.dataPort(), settings.joinTimeout(),
                    DataChannelTls.of(settings.tls()));
            TcpDataChannel ch = channel;
            system.systemActorOf(NodeAgent.create(settings, new NodeAgent.Options(replicas, threads, data, out, err), ch, exit), "node",
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
