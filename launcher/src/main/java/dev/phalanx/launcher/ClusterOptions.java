package dev.phalanx.launcher;

import java.nio.file.Path;

import dev.phalanx.parallel.cluster.ClusterSettings;
import dev.phalanx.parallel.cluster.ClusterSteps;
import dev.phalanx.train.Trainer;

/** The cluster options of {@code phalanx train}, kept apart from its other options. */
final class ClusterOptions {

    private ClusterOptions() { }

    /** The runner of a coordinator that waits for {@code nodes} nodes (itself included), listening on {@code bind}. */
    static Trainer.RunnerFactory coordinator(Integer nodes, String bind, Path clusterConf) {
        if (nodes == null) throw new IllegalArgumentException("--bind is for cluster mode: add --nodes K (the number of nodes, this one included)");
        ClusterSettings settings = ClusterSettings.load(clusterConf);
        if (bind != null) {
            String[] hp = ClusterSettings.hostPort(bind, "--bind");
            settings = settings.withBind(hp[0], Integer.parseInt(hp[1]));
        }
        if (settings.bindPort() == 0) throw new IllegalArgumentException("--bind: the coordinator needs a fixed port, the address nodes join");
        ClusterSettings s = settings;
        return (recipe, train) -> ClusterSteps.start(recipe, train, s, nodes, System.out);
    }
}
