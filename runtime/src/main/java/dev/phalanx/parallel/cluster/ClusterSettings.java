package dev.phalanx.parallel.cluster;

import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigValue;

/**
 * The settings of {@code conf/cluster.conf} (every key, documented, in
 * {@code dev/phalanx/cluster/cluster-defaults.conf}), and the Pekko configuration of a node
 * built from them.
 */
public record ClusterSettings(String bindHost, int bindPort, int dataPort, Duration joinTimeout, Duration stepTimeout, String secret,
                              Tls tls, String downingStrategy, Duration stableAfter, Duration heartbeatPause, Config pekkoSettings) {

    /** The ActorSystem name, the same on every node (Pekko requires it). */
    public static final String SYSTEM_NAME = "phalanx";
    /** The file both commands read when it exists and no other is named. */
    public static final Path DEFAULT_FILE = Path.of("conf", "cluster.conf");
    static final String DEFAULTS = "dev/phalanx/cluster/cluster-defaults.conf";

    /** Key and trust stores for TLS; all empty: plain TCP. */
    public record Tls(String keyStore, String keyStorePassword, String keyPassword, String trustStore, String trustStorePassword,
                      String protocol) {
        public boolean on() {
            return !keyStore.isEmpty() || !trustStore.isEmpty();
        }
    }

    /** The documented defaults alone. */
    public static Config defaults() {
        try (var in = new InputStreamReader(ClusterSettings.class.getClassLoader().getResourceAsStream(DEFAULTS), StandardCharsets.UTF_8)) {
            return ConfigFactory.parseReader(in);
        } catch (java.io.IOException e) {
            throw new IllegalStateException("cannot read " + DEFAULTS, e);
        }
    }

    /** {@code file} (null: conf/cluster.conf if it exists) over the defaults; an unknown key is an error naming it. */
    public static ClusterSettings load(Path file) {
        Config defaults = defaults();
        Config known = defaults.resolve(); // the keys there are, whatever the environment holds
        Config user = ConfigFactory.empty();
        Path f = file != null ? file : Files.isRegularFile(DEFAULT_FILE) ? DEFAULT_FILE : null;
        if (file != null && !Files.isRegularFile(file)) throw new IllegalArgumentException("cluster settings " + file + ": no such file");
        if (f != null) {
            try {
                user = ConfigFactory.parseFile(f.toFile());
            } catch (ConfigException e) {
                throw new IllegalArgumentException("cluster settings " + f + ": " + e.getMessage(), e);
            }
            Set<String> unknown = new TreeSet<>();
            for (Map.Entry<String, ConfigValue> e : user.entrySet()) {
                if (!known.hasPath(e.getKey()) && !e.getKey().startsWith("pekko.")) unknown.add(e.getKey());
            }
            if (!unknown.isEmpty()) {
                throw new IllegalArgumentException("cluster settings " + f + ": unknown key(s) " + String.join(", ", unknown)
                        + " (every key is documented in conf/cluster.conf)");
            }
        }
        return from(user.withFallback(defaults).resolve(), f == null ? "the defaults" : f.toString());
    }

    static ClusterSettings from(Config all, String source) {
        Config c = all.getConfig("phalanx.cluster");
        try {
            Config t = c.getConfig("tls");
            ClusterSettings s = new ClusterSettings(c.getString("bind-host"), c.getInt("bind-port"), c.getInt("data-port"),
                    c.getDuration("join-timeout"), c.getDuration("step-timeout"), c.getString("secret"),
                    new Tls(t.getString("key-store"), t.getString("key-store-password"), t.getString("key-password"), t.getString("trust-store"),
                            t.getString("trust-store-password"), t.getString("protocol")),
                    c.getString("downing.active-strategy"), c.getDuration("downing.stable-after"), c.getDuration("acceptable-heartbeat-pause"),
                    all.hasPath("pekko") ? all.getConfig("pekko").atPath("pekko") : ConfigFactory.empty());
            if (s.tls.on() && (s.tls.keyStore.isEmpty() || s.tls.trustStore.isEmpty())) {
                throw new IllegalArgumentException("cluster settings " + source + ": TLS needs both tls.key-store and tls.trust-store");
            }
            return s;
        } catch (ConfigException e) {
            throw new IllegalArgumentException("cluster settings " + source + ": " + e.getMessage(), e);
        }
    }

    /** "HOST:PORT" as {@code option} takes it; the error names the option. */
    public static String[] hostPort(String value, String option) {
        int colon = value.lastIndexOf(':');
        if (colon <= 0 || colon == value.length() - 1) throw new IllegalArgumentException(option + " expects HOST:PORT, got '" + value + "'");
        String host = value.substring(0, colon), port = value.substring(colon + 1);
        try {
            int p = Integer.parseInt(port);
            if (p < 0 || p > 65535) throw new NumberFormatException();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(option + " expects HOST:PORT with a port from 0 to 65535, got '" + value + "'");
        }
        return new String[] {host, port};
    }

    public ClusterSettings withBind(String host, int port) {
        return new ClusterSettings(host, port, dataPort, joinTimeout, stepTimeout, secret, tls, downingStrategy, stableAfter, heartbeatPause,
                pekkoSettings);
    }

    /** SHA-256 of the secret; empty without one. */
    public byte[] secretDigest() {
        if (secret.isEmpty()) return new byte[0];
        try {
            return MessageDigest.getInstance("SHA-256").digest(secret.getBytes(StandardCharsets.UTF_8));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The Pekko configuration of a node that listens on bindHost:bindPort and joins {@code seed}
     * ("host:port"). Keys under {@code pekko} in the cluster settings file go to Pekko as they
     * are, over these (Pekko Management's Cluster Bootstrap, for one, in the README's Kubernetes example).
     */
    public Config pekko(String seed) {
        List<String> lines = new ArrayList<>();
        lines.add("pekko.actor.provider = cluster");
        lines.add("pekko.loglevel = WARNING");
        lines.add("pekko.log-dead-letters = off");
        lines.add("pekko.log-dead-letters-during-shutdown = off");
        lines.add("pekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off");
        // nor Artery's own hook, which shuts remoting down at once on Ctrl-C: the coordinator's
        // training loop then saves its checkpoint and tells the workers the job is over itself
        lines.add("pekko.jvm-shutdown-hooks = off");
        lines.add("pekko.actor.allow-java-serialization = off");
        lines.add("pekko.actor.serializers.phalanx-cluster = \"" + ClusterSerializer.class.getName() + "\"");
        lines.add("pekko.actor.serialization-bindings { \"" + ClusterMessage.class.getName() + "\" = phalanx-cluster }");
        lines.add("pekko.remote.artery.canonical.hostname = " + quote(bindHost));
        lines.add("pekko.remote.artery.canonical.port = " + bindPort);
        lines.add("pekko.cluster.seed-nodes = [" + quote("pekko://" + SYSTEM_NAME + "@" + seed) + "]");
        lines.add("pekko.cluster.downing-provider-class = \"org.apache.pekko.cluster.sbr.SplitBrainResolverProvider\"");
        lines.add("pekko.cluster.split-brain-resolver.active-strategy = " + downingStrategy);
        lines.add("pekko.cluster.split-brain-resolver.stable-after = " + stableAfter.toMillis() + "ms");
        lines.add("pekko.cluster.failure-detector.acceptable-heartbeat-pause = " + heartbeatPause.toMillis() + "ms");
        lines.add("pekko.cluster.jmx.multi-mbeans-in-same-jvm = on");
        if (tls.on()) {
            lines.add("pekko.remote.artery.transport = tls-tcp");
            String p = "pekko.remote.artery.ssl.config-ssl-engine.";
            lines.add("pekko.remote.artery.ssl.ssl-engine-provider = org.apache.pekko.remote.artery.tcp.ConfigSSLEngineProvider");
            lines.add(p + "key-store = " + quote(tls.keyStore));
            lines.add(p + "key-store-password = " + quote(tls.keyStorePassword));
            lines.add(p + "key-password = " + quote(tls.keyPassword.isEmpty() ? tls.keyStorePassword : tls.keyPassword));
            lines.add(p + "trust-store = " + quote(tls.trustStore));
            lines.add(p + "trust-store-password = " + quote(tls.trustStorePassword));
            lines.add(p + "protocol = " + quote(tls.protocol));
            lines.add(p + "enabled-algorithms = [" + quote(tls.protocol.equals("TLSv1.3") ? "TLS_AES_256_GCM_SHA384" : "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384") + "]");
            lines.add(p + "require-mutual-authentication = on");
        } else {
            lines.add("pekko.remote.artery.transport = tcp");
        }
        return pekkoSettings.withFallback(ConfigFactory.parseString(String.join("\n", lines))).withFallback(ConfigFactory.load());
    }

    private static String quote(String s) {
        return com.typesafe.config.ConfigValueFactory.fromAnyRef(s).render();
    }
}
