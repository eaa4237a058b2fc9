package dev.phalanx.parallel.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.Test;

import dev.phalanx.parallel.Replica;
import dev.phalanx.protocol.cluster.RingChunk;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** A resumed job's state round the ring over real TCP channels: every worker gets the coordinator's exact bits, in several frames. */
class StateBroadcastTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    @Test
    void everyWorkerGetsTheExactStateAndTheLastPassesNothingBack() throws Exception {
        int n = 3;
        Generator g = new Generator(3);
        Map<String, Tensor> model = new LinkedHashMap<>(), optimizer = new LinkedHashMap<>();
        model.put("fc.weight", Tensor.randn(g, 1200, 1000)); // 4.8 MB: two frames
        model.put("fc.bias", Tensor.randn(g, 1000));
        optimizer.put("state.0.momentum_buffer", Tensor.randn(g, 1200, 1000));
        Replica.Snapshot state = new Replica.Snapshot(model, optimizer);
        byte[] bytes = StateBroadcast.encode(state);
        assertTrue(StateBroadcast.frames(bytes) >= 2, "the test needs several frames");

        ActorTestKit kit = ActorTestKit.create();
        ExecutorService pool = Executors.newFixedThreadPool(n);
        List<TcpDataChannel> channels = new ArrayList<>();
        try {
            for (int r = 0; r < n; r++) channels.add(TcpDataChannel.bind(kit.system(), "127.0.0.1", 0, WAIT));
            for (int r = 0; r < n; r++) channels.get(r).connect("127.0.0.1", channels.get((r + 1) % n).localAddress().getPort(), WAIT);
            List<Future<Replica.Snapshot>> got = new ArrayList<>();
            for (int r = 1; r < n; r++) {
                int rank = r;
                got.add(pool.submit(() -> StateBroadcast.receive(channels.get(rank), 7, StateBroadcast.frames(bytes), rank + 1 < n, WAIT)));
            }
            StateBroadcast.send(channels.get(0), 6, new byte[] {1, 2, 3}); // an earlier broadcast, given up: passed over
            StateBroadcast.send(channels.get(0), 7, bytes);
            for (Future<Replica.Snapshot> f : got) {
                Replica.Snapshot s = f.get(30, TimeUnit.SECONDS);
                assertEquals(state.model().keySet(), s.model().keySet());
                assertEquals(state.optimizer().keySet(), s.optimizer().keySet());
                for (var e : state.model().entrySet()) assertArrayEquals(e.getValue().data(), s.model().get(e.getKey()).data(), 0f, e.getKey());
                for (var e : state.optimizer().entrySet()) assertArrayEquals(e.getValue().data(), s.optimizer().get(e.getKey()).data(), 0f, e.getKey());
            }
            // the coordinator's inbox stays empty: the ring's gradients must not find stale state frames there
            assertThrows(java.util.concurrent.TimeoutException.class, () -> channels.get(0).receive(Duration.ofMillis(300)));
        } finally {
            pool.shutdownNow();
            channels.forEach(TcpDataChannel::close);
            kit.shutdownTestKit();
        }
    }

    @Test
    void whatIsLeftOfAnAbortedStepOrBroadcastIsDroppedAndAStateFrameOutOfOrderIsAClearError() {
        java.util.ArrayDeque<RingChunk> frames = new java.util.ArrayDeque<>(List.of(
                RingChunk.newBuilder().setStep(4).setBucket(0).setPhase(1).build(), // left over from a step aborted when a node was lost
                RingChunk.newBuilder().setStep(2).setBucket(StateBroadcast.STATE_BUCKET).setPhase(0).setChunk(1).build(), // an earlier broadcast
                RingChunk.newBuilder().setStep(3).setBucket(StateBroadcast.STATE_BUCKET).setPhase(1).setChunk(2).build()));
        RingLink link = new RingLink() {
            @Override public void send(RingChunk chunk) { }
            @Override public RingChunk receive(Duration timeout) {
                return frames.remove();
            }
            @Override public long bytesSent() {
                return 0;
            }
            @Override public void close() { }
        };
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> StateBroadcast.receive(link, 3, 2, false, WAIT));
        assertTrue(e.getMessage().contains("expected part 1 of 2 of the job's state (broadcast 3) on the data channel, got part 2 of 2 of broadcast 3"),
                e.getMessage());
        assertTrue(frames.isEmpty(), "the stale frames were passed over");
    }
}
