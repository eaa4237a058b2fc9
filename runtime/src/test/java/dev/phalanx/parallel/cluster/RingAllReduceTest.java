package dev.phalanx.parallel.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import dev.phalanx.kernels.reduce.SampleTree;

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

    /**
     * The reproducible mode (#13): each node offers the sample tree's pieces of its rows; every node
     * ends with exactly the bits of one replica that summed the whole batch along the tree, whatever
     * the bucket's length (shorter than the ring, uneven chunks) and however unevenly the rows are cut.
     */
    @ParameterizedTest(name = "{0} nodes")
    @ValueSource(ints = {2, 3, 5})
    void theTreeAcrossNodesGivesTheBitsOfOneReplica(int n) throws Exception {
        int batch = 30;
        int[] lengths = {1, 7, 1001};
        Random rnd = new Random(13);
        float[][][] samples = new float[lengths.length][batch][]; // values whose sums round differently in another grouping
        for (int b = 0; b < lengths.length; b++) {
            for (int i = 0; i < batch; i++) {
                samples[b][i] = new float[lengths[b]];
                for (int j = 0; j < lengths[b]; j++) samples[b][i][j] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(8)));
            }
        }
        int[] cuts = new int[n + 1]; // uneven: torch.chunk of 30 rows would be even for 2, 3 and 5; take 1 row less on node 0
        for (int r = 0; r <= n; r++) cuts[r] = r == 0 ? 0 : r == n ? batch : r * batch / n - 1;
        ActorTestKit kit = ActorTestKit.create();
        ExecutorService pool = Executors.newFixedThreadPool(n);
        List<TcpDataChannel> channels = new ArrayList<>();
        try {
            for (int r = 0; r < n; r++) channels.add(TcpDataChannel.bind(kit.system(), "127.0.0.1", 0, WAIT));
            for (int r = 0; r < n; r++) channels.get(r).connect("127.0.0.1", channels.get((r + 1) % n).localAddress().getPort(), WAIT);
            List<Future<float[][]>> results = new ArrayList<>();
            for (int r = 0; r < n; r++) {
                int rank = r;
                results.add(pool.submit(() -> {
                    RingAllReduce ring = new RingAllReduce(rank, n, channels.get(rank));
                    float[][] out = new float[lengths.length][];
                    for (int b = 0; b < lengths.length; b++) {
                        out[b] = ring.allReduceTree(1, b, batch, pieces(samples[b], cuts[rank], cuts[rank + 1], batch), lengths[b], WAIT);
                    }
                    return out;
                }));
            }
            List<float[][]> got = new ArrayList<>();
            for (Future<float[][]> f : results) got.add(f.get(30, TimeUnit.SECONDS));
            for (int b = 0; b < lengths.length; b++) {
                float[] one = pieces(samples[b], 0, batch, batch).get(new SampleTree.Block(0, batch)); // 1 replica: the root
                float[] naive = new float[lengths[b]];
                for (float[] row : samples[b]) for (int j = 0; j < row.length; j++) naive[j] += row[j];
                if (lengths[b] > 100) assertFalse(Arrays.equals(one, naive), "the data must round differently in another order, or the test proves nothing");
                for (int r = 0; r < n; r++) assertArrayEquals(one, got.get(r)[b], 0f, "node " + r + ", bucket " + b);
            }
        } finally {
            pool.shutdownNow();
            channels.forEach(TcpDataChannel::close);
            kit.shutdownTestKit();
        }
    }

    private static Map<SampleTree.Block, float[]> pieces(float[][] samples, int a, int b, int batch) {
        SampleTree.Accumulator acc = new SampleTree.Accumulator(a, b, batch, samples[0].length);
        for (int i = a; i < b; i++) acc.add(i, samples[i]);
        Map<SampleTree.Block, float[]> out = new HashMap<>();
        for (int k = 0; k < acc.blocks().size(); k++) out.put(acc.blocks().get(k), acc.sums().get(k));
        return out;
    }

    @Test
    void oneNodeIsItsOwnSum() throws Exception {
        float[] v = {1, 2, 3};
        assertArrayEquals(new float[] {1, 2, 3}, new RingAllReduce(0, 1, null).allReduce(1, 0, v, WAIT));
    }
}
