package dev.phalanx.parallel.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeoutException;

import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.google.protobuf.ByteString;

import dev.phalanx.protocol.cluster.RingChunk;

/**
 * The gradient data channel over TLS with mutual authentication: two nodes with the cluster's
 * stores exchange a chunk; a plain TCP peer and a TLS peer whose certificate the trust store
 * does not hold get nothing in.
 */
class DataChannelTlsTest {

    private static final Duration WAIT = Duration.ofSeconds(20);
    /** How long a refused peer is given to (wrongly) deliver a frame. */
    private static final Duration REFUSED_WAIT = Duration.ofSeconds(3);

    @TempDir
    Path dir;
    private ActorTestKit kit;

    @BeforeEach
    void start() {
        kit = ActorTestKit.create();
    }

    @AfterEach
    void stop() {
        kit.shutdownTestKit();
    }

    private Optional<DataChannelTls> tls(String name) throws Exception {
        Path conf = dir.resolve(name + ".conf");
        Files.writeString(conf, TestKeyStores.make(dir, name));
        return DataChannelTls.of(ClusterSettings.load(conf).tls());
    }

    private static RingChunk chunk(float... values) {
        ByteBuffer b = ByteBuffer.allocate(values.length * Float.BYTES);
        for (float v : values) b.putFloat(v);
        return RingChunk.newBuilder().setStep(7).setBucket(1).setPhase(0).setChunk(2).setValues(ByteString.copyFrom(b.array())).build();
    }

    @Test
    void nodesWithTheStoresExchangeChunksOverTls() throws Exception {
        Optional<DataChannelTls> tls = tls("node");
        try (TcpDataChannel left = TcpDataChannel.bind(kit.system(), "127.0.0.1", 0, WAIT, tls);
             TcpDataChannel right = TcpDataChannel.bind(kit.system(), "127.0.0.1", 0, WAIT, tls)) {
            left.connect("127.0.0.1", right.localAddress().getPort(), WAIT);
            RingChunk sent = chunk(1.5f, -2f, 3.25f);
            left.send(sent);
            RingChunk got = right.receive(WAIT);
            assertEquals(sent, got);
            assertArrayEquals(sent.getValues().toByteArray(), got.getValues().toByteArray());
        }
    }

    @Test
    void aPlainTcpPeerGetsNoFrameIn() throws Exception {
        try (TcpDataChannel channel = TcpDataChannel.bind(kit.system(), "127.0.0.1", 0, WAIT, tls("node"));
             Socket plain = new Socket("127.0.0.1", channel.localAddress().getPort())) {
            byte[] body = chunk(9f).toByteArray();
            OutputStream out = plain.getOutputStream();
            out.write(ByteBuffer.allocate(Integer.BYTES).putInt(body.length).array());
            out.write(body); // a well-formed plain frame, which a plain channel would take
            out.flush();
            assertThrows(TimeoutException.class, () -> channel.receive(REFUSED_WAIT), "a plain TCP peer's frame reached the ring");
        }
    }

    /** The stranger trusts the cluster's certificate, so only the cluster's demand for a client certificate can keep it out. */
    @Test
    void aTlsPeerOutsideTheTrustStoreGetsNoFrameIn() throws Exception {
        Optional<DataChannelTls> cluster = tls("node");
        TestKeyStores.make(dir, "stranger");
        Path conf = dir.resolve("stranger-trusting-node.conf");
        Files.writeString(conf, "phalanx.cluster.tls { key-store = \"" + dir.resolve("stranger.p12") + "\", key-store-password = changeit, "
                + "trust-store = \"" + dir.resolve("node-trust.p12") + "\", trust-store-password = changeit }\n");
        Optional<DataChannelTls> stranger = DataChannelTls.of(ClusterSettings.load(conf).tls());
        try (TcpDataChannel channel = TcpDataChannel.bind(kit.system(), "127.0.0.1", 0, WAIT, cluster);
             TcpDataChannel outsider = TcpDataChannel.bind(kit.system(), "127.0.0.1", 0, WAIT, stranger)) {
            try {
                outsider.connect("127.0.0.1", channel.localAddress().getPort(), WAIT);
                outsider.send(chunk(4f));
            } catch (Exception refusedEarly) {
                // the handshake may fail before or after the first frame is queued; either way nothing may arrive
            }
            assertThrows(TimeoutException.class, () -> channel.receive(REFUSED_WAIT), "an untrusted peer's frame reached the ring");
        }
    }

    @Test
    void aStoreThatCannotBeReadIsNamed() throws Exception {
        Path conf = dir.resolve("bad.conf");
        Files.writeString(conf, "phalanx.cluster.tls { key-store = \"" + dir.resolve("missing.p12") + "\", trust-store = \""
                + dir.resolve("missing.p12") + "\" }\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> DataChannelTls.of(ClusterSettings.load(conf).tls()));
        assertTrue(e.getMessage().contains("phalanx.cluster.tls.key-store") && e.getMessage().contains("missing.p12"), e.getMessage());
    }
}
