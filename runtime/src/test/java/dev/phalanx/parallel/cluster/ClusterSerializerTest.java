package dev.phalanx.parallel.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.util.List;

import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.serialization.Serialization;
import org.apache.pekko.serialization.SerializationExtension;
import org.apache.pekko.serialization.Serializer;
import org.apache.pekko.serialization.Serializers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Every message that crosses a node boundary goes through {@link ClusterSerializer} to its
 * Protobuf message and back, actor references included; Java serialization is off, so a
 * Java-serialized message is not accepted.
 */
class ClusterSerializerTest {

    private static ActorTestKit kit;
    private static Serialization serialization;

    @BeforeAll
    static void start() {
        // the configuration a cluster node runs with, on a free port, joining nobody
        kit = ActorTestKit.create(com.typesafe.config.ConfigFactory.parseString("pekko.cluster.seed-nodes = []")
                .withFallback(ClusterSettings.load(null).withBind("127.0.0.1", 0).pekko("127.0.0.1:1")));
        serialization = SerializationExtension.get(kit.system());
    }

    @AfterAll
    static void stop() {
        kit.shutdownTestKit();
    }

    private static Object roundTrip(Object m) {
        Serializer s = serialization.findSerializerFor(m);
        assertEquals(ClusterSerializer.IDENTIFIER, s.identifier(), m.getClass().getSimpleName() + " is not serialized by Phalanx's Protobuf serializer");
        byte[] bytes = serialization.serialize(m).get();
        return serialization.deserialize(bytes, s.identifier(), Serializers.manifestFor(s, m)).get();
    }

    @Test
    void everyClusterMessageSurvivesTheTrip() {
        TestProbe<NodeCommand> node = kit.createTestProbe();
        for (boolean nccl : new boolean[] {false, true}) {
            LeaderCommand.Join join = new LeaderCommand.Join("127.0.0.1:25521", 2, nccl ? "cuda:0, cuda:1" : "cpu", new byte[] {1, 2, 3}, "127.0.0.1", 40001,
                    nccl, node.getRef());
            LeaderCommand.Join back = (LeaderCommand.Join) roundTrip(join);
            assertEquals(join.node(), back.node());
            assertEquals(2, back.replicas());
            assertEquals(join.device(), back.device());
            assertArrayEquals(join.secretDigest(), back.secretDigest());
            assertEquals(40001, back.dataPort());
            assertEquals(nccl, back.nccl(), "whether the node can join an NCCL communicator");
            assertEquals(node.getRef(), back.replyTo(), "the actor reference resolves to the same actor");
        }
        List<Object> records = List.of(
                new LeaderCommand.DataReady("n", "abc", ""),
                new LeaderCommand.RingReady("n", 2),
                new LeaderCommand.StepReport(7, "n", 0.25, "", 1234, false),
                new LeaderCommand.StepReport(8, "n", Double.NaN, "the ring all-reduce failed", 1234, true),
                new NodeCommand.JobRecipe("model = fashion-lenet\n"),
                new NodeCommand.Refused("no"),
                new NodeCommand.RingFormed(1, 3, "127.0.0.1", 40002, 2, new byte[0]),
                new NodeCommand.RunStep(3, 0, 2, 10, 20, 30),
                new NodeCommand.LoadState(3, 9_000_000, 2),
                new LeaderCommand.StateLoaded("n", "disk full"),
                new NodeCommand.Finish(""));
        for (Object m : records) assertEquals(m, roundTrip(m));
    }

    /**
     * The NCCL communicator's id that the coordinator (rank 0) hands to every node in RingFormed:
     * its 128 bytes arrive as they left, with the rank and size each node joins with; no id means
     * the ring sums.
     */
    @Test
    void theNcclUniqueIdTravelsInRingFormedByteForByte() {
        byte[] id = new byte[dev.phalanx.kernels.cuda.NcclRankAllReduce.UNIQUE_ID_BYTES];
        new java.util.Random(5).nextBytes(id);
        id[0] = 0; // NCCL's ids hold zero bytes: nothing may stop at them
        NodeCommand.RingFormed m = new NodeCommand.RingFormed(2, 4, "10.0.0.7", 40003, 3, id);
        NodeCommand.RingFormed back = (NodeCommand.RingFormed) roundTrip(m);
        assertArrayEquals(id, back.ncclUniqueId());
        assertEquals(2, back.rank());
        assertEquals(4, back.size());
        assertEquals(3, back.generation());
        assertTrue(back.nccl());
        assertEquals(m, back);
        byte[] other = id.clone();
        other[127] ^= 1;
        assertTrue(!m.equals(new NodeCommand.RingFormed(2, 4, "10.0.0.7", 40003, 3, other)), "RingFormed compares the id by value");
        NodeCommand.RingFormed ring = (NodeCommand.RingFormed) roundTrip(new NodeCommand.RingFormed(1, 3, "127.0.0.1", 40002, 0, new byte[0]));
        assertTrue(!ring.nccl() && ring.ncclUniqueId().length == 0, "no id: the ring sums");
    }

    /** A Serializable stand-in for a message someone sends with Java serialization. */
    record Sneaky(String payload) implements Serializable { }

    @Test
    void javaSerializationIsOffBothWays() throws Exception {
        Object sneaky = new Sneaky("rm -rf /");
        // sending: nothing serializes it
        assertThrows(Exception.class, () -> serialization.serialize(sneaky).get());
        // receiving: bytes that claim Java serialization (serializer id 1) are not deserialized
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(sneaky);
        }
        Exception e = assertThrows(Exception.class, () -> serialization.deserialize(bytes.toByteArray(), 1, "").get());
        assertTrue(String.valueOf(e.getMessage()).toLowerCase().contains("java serialization") || e instanceof java.io.NotSerializableException
                || e.getClass().getSimpleName().contains("Disabled"), e.toString());
    }

    @Test
    void anUnknownManifestIsRefusedWithItsName() throws Exception {
        ClusterSerializer s = (ClusterSerializer) serialization.serializerFor(NodeCommand.Finish.class);
        java.io.NotSerializableException e = assertThrows(java.io.NotSerializableException.class, () -> s.fromBinary(new byte[0], "Evil"));
        assertTrue(e.getMessage().contains("Evil"), e.getMessage());
    }
}
