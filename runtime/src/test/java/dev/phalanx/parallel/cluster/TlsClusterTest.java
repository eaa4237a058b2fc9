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

    private void keytool(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "keytool").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "keytool hangs");
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ":\n" + out);
    }

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

    @Test
    void aNodeWithTheStoresJoinsAndANodeWithoutTlsDoesNot() throws Exception {
        // one self-signed key for the test cluster; its certificate is the trust store
        keytool("-genkeypair", "-alias", "node", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=127.0.0.1", "-validity", "2",
                "-keystore", "node.p12", "-storetype", "PKCS12", "-storepass", "changeit");
        keytool("-exportcert", "-alias", "node", "-keystore", "node.p12", "-storepass", "changeit", "-rfc", "-file", "node.pem");
        keytool("-importcert", "-noprompt", "-alias", "node", "-file", "node.pem", "-keystore", "trust.p12", "-storetype", "PKCS12",
                "-storepass", "changeit");
        String tls = "phalanx.cluster.tls { key-store = \"" + dir.resolve("node.p12") + "\", key-store-password = changeit, trust-store = \""
                + dir.resolve("trust.p12") + "\", trust-store-password = changeit }\n";
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
            for (ActorSystem<Void> s : systems) s.terminate();
            for (ActorSystem<Void> s : systems) s.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
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
