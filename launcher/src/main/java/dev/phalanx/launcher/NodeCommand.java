package dev.phalanx.launcher;

import java.nio.file.Path;
import java.util.concurrent.Callable;

import dev.phalanx.parallel.cluster.ClusterSettings;
import dev.phalanx.parallel.cluster.NodeMain;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code phalanx node --join HOST:PORT}: a worker node of a cluster job. */
@Command(name = "node", mixinStandardHelpOptions = true,
        description = {"Join a cluster job as a worker node: `phalanx train RECIPE --nodes K --bind HOST:PORT` runs the coordinator.",
            "The coordinator sends the recipe; this node reads its rows from its own copy of the data set (found as phalanx train",
            "finds it), trains them on its replicas, and leaves the cluster when the job ends (exit 0)."})
final class NodeCommand implements Callable<Integer> {

    @Option(names = "--join", required = true, paramLabel = "HOST:PORT", description = "the coordinator's address (its --bind)")
    String join;

    @Option(names = "--bind", paramLabel = "HOST:PORT", description = "where this node listens (default: conf/cluster.conf's bind-host, a free port)")
    String bind;

    @Option(names = "--replicas", description = "replicas on this node (default: one per GPU when --device puts them on several GPUs, else 1)")
    Integer replicas;

    @Option(names = "--device", paramLabel = DeviceOption.LABEL, description = "where this node's replicas compute: cpu, cuda (every GPU), cuda:N, "
            + "auto (default: the GPUs when one is usable, else the CPU), or sim / sim:N (the simulated device). A job whose coordinator is on GPUs "
            + "sums with NCCL, and takes only nodes on GPUs")
    String device;

    @Option(names = "--threads", defaultValue = "1", description = "CPU threads per replica (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--data", description = "the folder holding this node's copy of the data set (default: where phalanx train looks)")
    Path data;

    @Option(names = "--cluster-conf", description = "cluster settings (default: conf/cluster.conf if it exists)")
    Path clusterConf;

    @Override
    public Integer call() throws Exception {
        ClusterSettings.hostPort(join, "--join");
        ClusterSettings settings = ClusterSettings.load(clusterConf);
        if (bind != null) {
            String[] hp = ClusterSettings.hostPort(bind, "--bind");
            settings = settings.withBind(hp[0], Integer.parseInt(hp[1]));
        } else {
            settings = settings.withBind(settings.bindHost(), 0);
        }
        return NodeMain.run(settings, join, replicas, threads, data, device, System.out, System.err);
    }
}
