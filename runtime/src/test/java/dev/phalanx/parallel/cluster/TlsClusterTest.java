package dev.phalanx.parallel.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Remoting over TLS with mutual authentication, with stores made by keytool as the README
 * shows: a node with the stores joins; a node without TLS does not.
 */
class TlsClusterTest {

    /** Far above a cluster join on a busy 2-core machine. */
    private static final long JOIN_WAIT_MS = 90_000;

    @TempDir
    Path dir;

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private ClusterSettings settings(String conf, int port) throws Exception {
        Path f = dir.resolve("c" + port + ".conf");
        Files.writeString(f, conf);
        return ClusterSettings.load(f).withBind("127.0.0.1", port);
    }

    private static final long TERMINATE_WAIT_S = 120;

    @Test
    void aNodeWithTheStoresJoinsAndANodeWithoutTlsDoesNot() throws Exception {
        String tls = TestKeyStores.make(dir, "node"); // one self-signed key for the test cluster; its certificate is the trust store
        int seedPort = freePort(), goodPort = freePort(), plainPort = freePort();
        String seed = "127.0.0.1:" + seedPort;
        List<ActorSystem<Void>> systems = new ArrayList<>();
        try {
            ActorSystem<Void> coordinator = ActorSystem.create(Behaviors.empty(), ClusterSettings.SYSTEM_NAME, settings(tls, seedPort).pekko(seed));
            systems.add(coordinator);
            ActorSystem<Void> plain = ActorSystem.create(Behaviors.empty(), ClusterSettings.SYSTEM_NAME, settings("", plainPort).pekko(seed));
            systems.add(plain);
            ActorSystem<Void> good = ActorSystem.create(Behaviors.empty(), ClusterSettings.SYSTEM_NAME, settings(tls, goodPort).pekko(seed));
            systems.add(good);
            long deadline = System.currentTimeMillis() + JOIN_WAIT_MS;
            while (System.currentTimeMillis() < deadline && !up(coordinator, goodPort)) Thread.sleep(200);
            assertTrue(up(coordinator, goodPort), "the node with the stores did not join over TLS within " + JOIN_WAIT_MS + " ms");
            assertTrue(!member(coordinator, plainPort), "a node without TLS joined a TLS cluster");
            assertTrue(Cluster.get(plain).selfMember().status() != MemberStatus.up(), "the node without TLS thinks it is up");
        } finally {
            // terminated together, waited for with room: a member's coordinated shutdown runs its
            // cluster phases (leave, exiting) each under its own timeout, and on a loaded CI machine
            // the three took over 30 s after the checks above had passed
            for (ActorSystem<Void> s : systems) s.terminate();
            for (ActorSystem<Void> s : systems) s.getWhenTerminated().toCompletableFuture().get(TERMINATE_WAIT_S, TimeUnit.SECONDS);
        }
    }

    private static boolean up(ActorSystem<Void> at, int port) {
        for (var m : Cluster.get(at).state().getMembers()) {
            if (m.address().getPort().orElse(-1) == port && m.status() == MemberStatus.up()) return true;
        }
        return false;
    }

    private static boolean member(ActorSystem<Void> at, int port) {
        for (var m : Cluster.get(at).state().getMembers()) if (m.address().getPort().orElse(-1) == port) return true;
        return false;
    }
}
