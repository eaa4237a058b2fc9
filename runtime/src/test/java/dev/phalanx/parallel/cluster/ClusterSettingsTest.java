package dev.phalanx.parallel.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;

/** conf/cluster.conf, the Kubernetes example, and the Pekko configuration built from them. */
class ClusterSettingsTest {

    /** The repository's conf folder, from the runtime module where the tests run. */
    private static final Path CONF = Path.of("..", "conf");

    @TempDir
    Path dir;

    @Test
    void theShippedFileIsTheDocumentedDefaults() {
        Config shipped = ConfigFactory.parseFile(CONF.resolve("cluster.conf").toFile()).resolve();
        assertEquals(ClusterSettings.defaults().resolve().root().unwrapped(), shipped.root().unwrapped(),
                "conf/cluster.conf and the embedded cluster-defaults.conf must say the same");
        ClusterSettings s = ClusterSettings.load(CONF.resolve("cluster.conf"));
        assertEquals("127.0.0.1", s.bindHost(), "everything binds to 127.0.0.1 unless told otherwise");
        assertEquals("keep-majority", s.downingStrategy());
        assertTrue(!s.tls().on());
        Config pekko = s.pekko("127.0.0.1:25520");
        assertEquals("cluster", pekko.getString("pekko.actor.provider"));
        assertEquals("off", pekko.getString("pekko.actor.allow-java-serialization"));
        assertEquals("tcp", pekko.getString("pekko.remote.artery.transport"));
        assertEquals("org.apache.pekko.cluster.sbr.SplitBrainResolverProvider", pekko.getString("pekko.cluster.downing-provider-class"));
        assertEquals("phalanx-cluster", pekko.getString("pekko.actor.serialization-bindings.\"" + ClusterMessage.class.getName() + "\""));
    }

    @Test
    void anUnknownKeyIsAnErrorThatNamesIt() throws Exception {
        Path f = dir.resolve("c.conf");
        Files.writeString(f, "phalanx.cluster { join-timeout = 5s, secrett = x }\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ClusterSettings.load(f));
        assertTrue(e.getMessage().contains("unknown key(s) phalanx.cluster.secrett"), e.getMessage());
        Files.writeString(f, "phalanx.cluster.tls.key-store = a.p12\n");
        e = assertThrows(IllegalArgumentException.class, () -> ClusterSettings.load(f));
        assertTrue(e.getMessage().contains("TLS needs both tls.key-store and tls.trust-store"), e.getMessage());
    }

    @Test
    void storesTurnOnTlsWithMutualAuthentication() throws Exception {
        Path f = dir.resolve("c.conf");
        Files.writeString(f, "phalanx.cluster.tls { key-store = k.p12, key-store-password = pw, trust-store = t.p12, trust-store-password = pw2 }\n");
        Config pekko = ClusterSettings.load(f).pekko("127.0.0.1:25520");
        assertEquals("tls-tcp", pekko.getString("pekko.remote.artery.transport"));
        assertEquals("k.p12", pekko.getString("pekko.remote.artery.ssl.config-ssl-engine.key-store"));
        assertEquals("pw", pekko.getString("pekko.remote.artery.ssl.config-ssl-engine.key-password"));
        assertEquals("t.p12", pekko.getString("pekko.remote.artery.ssl.config-ssl-engine.trust-store"));
        assertTrue(pekko.getBoolean("pekko.remote.artery.ssl.config-ssl-engine.require-mutual-authentication"));
    }

    @Test
    void theKubernetesExampleLoads() {
        ClusterSettings s = ClusterSettings.load(CONF.resolve("kubernetes").resolve("cluster.conf"));
        assertEquals(25530, s.dataPort());
        assertEquals(Duration.ofSeconds(300), s.joinTimeout());
        assertTrue(s.tls().on());
        Config pekko = s.pekko("127.0.0.1:25520");
        assertEquals("kubernetes-api", pekko.getString("pekko.management.cluster.bootstrap.contact-point-discovery.discovery-method"));
        assertEquals("phalanx", pekko.getString("pekko.management.cluster.bootstrap.contact-point-discovery.service-name"));
        assertEquals(8558, pekko.getInt("pekko.management.http.port"));
        assertTrue(pekko.getStringList("pekko.extensions").contains("org.apache.pekko.management.cluster.bootstrap.ClusterBootstrap"));
        assertTrue(pekko.getStringList("pekko.cluster.seed-nodes").isEmpty(), "Bootstrap does not run where seed nodes are set");
        assertTrue(pekko.getStringList("pekko.cluster.seed-nodes").isEmpty(), "Cluster Bootstrap, not a seed address, forms the cluster");
        assertEquals("tls-tcp", pekko.getString("pekko.remote.artery.transport"));
    }
}
