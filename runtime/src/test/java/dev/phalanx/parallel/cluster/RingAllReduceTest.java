package dev.phalanx.parallel.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The ring over real TCP data channels on 127.0.0.1: sums, identical bits everywhere, 2(N-1)/N bytes per node. */
class RingAllReduceTest {

    private static final Duration WAIT = Duration.ofSeconds(20);

    @ParameterizedTest(name = "{0} nodes")
    @ValueSource(ints = {2, 3, 4})
    void everyNodeGetsTheSameSumAndSendsTwoNMinusOneOverNOfIt(int n) throws Exception {
        ActorTestKit kit = ActorTestKit.create();
        ExecutorService pool = Executors.newFixedThreadPool(n);
        List<TcpDataChannel> channels = new ArrayList<>();
        try {
            for (int r = 0; r < n; r++) channels.add(TcpDataChannel.bind(kit.system(), "127.0.0.1", 0, WAIT));
            for (int r = 0; r < n; r++) channels.get(r).connect("127.0.0.1", channels.get((r + 1) % n).localAddress().getPort(), WAIT);
            int[] lengths = {1, 7, 1000, 4099};
            float[][][] inputs = new float[lengths.length][n][];
            Random rnd = new Random(5);
            for (int b = 0; b < lengths.length; b++) {
                for (int r = 0; r < n; r++) {
                    inputs[b][r] = new float[lengths[b]];
                    for (int i = 0; i < lengths[b]; i++) inputs[b][r][i] = (float) rnd.nextGaussian();
                }
            }
            List<Future<float[][]>> results = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                results.add(pool.submit(() -> {
                    RingAllReduce ring = new RingAllReduce(rank, n, channels.get(rank));
                    float[][] out = new float[lengths.length][];
                    for (int b = 0; b < lengths.length; b++) out[b] = ring.allReduce(1, b, inputs[b][rank].clone(), WAIT);
                    return out;
                }));
            }
            List<float[][]> got = new ArrayList<>();
            for (Future<float[][]> f : results) got.add(f.get(30, TimeUnit.SECONDS));
            long total = 0;
            for (int b = 0; b < lengths.length; b++) {
                float[] expected = new float[lengths[b]];
                for (int r = 0; r < n; r++) for (int i = 0; i < lengths[b]; i++) expected[i] += inputs[b][r][i];
                assertArrayEquals(expected, got.get(0)[b], 1e-5f, "bucket " + b);
                for (int r = 1; r < n; r++) assertArrayEquals(got.get(0)[b], got.get(r)[b], 0f, "node " + r + " holds other bits than node 0");
                total += lengths[b];
            }
            for (int r = 0; r < n; r++) {
                // each node sends N-1 chunks in each of the two halves; chunks differ by at most one value
                long bound = 2L * (n - 1) * total * Float.BYTES / n;
                long sent = channels.get(r).bytesSent();
                assertEquals(bound, sent, 2L * (n - 1) * lengths.length * Float.BYTES, "node " + r + " sent " + sent + " bytes");
            }
        } finally {
            pool.shutdownNow();
            channels.forEach(TcpDataChannel::close);
            kit.shutdownTestKit();
        }
    }

    @Test
    void oneNodeIsItsOwnSum() throws Exception {
        float[] v = {1, 2, 3};
        assertArrayEquals(new float[] {1, 2, 3}, new RingAllReduce(0, 1, null).allReduce(1, 0, v, WAIT));
    }
}
