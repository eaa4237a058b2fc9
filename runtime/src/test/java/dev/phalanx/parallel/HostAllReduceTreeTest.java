package dev.phalanx.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.reduce.SampleTree;

/** The reproducible mode's all-reduce (issue #13): tree pieces in, the tree's sum out, whatever the arrival order. */
class HostAllReduceTreeTest {

    private static final int BATCH = 30, WIDTH = 7;

    /** Per-sample contributions whose sums round differently for different groupings. */
    private static float[][] samples() {
        Random rnd = new Random(13);
        float[][] s = new float[BATCH][WIDTH];
        for (float[] row : s) for (int i = 0; i < WIDTH; i++) row[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(8)));
        return s;
    }

    private static SampleTree.Accumulator shard(float[][] samples, int a, int b) {
        SampleTree.Accumulator acc = new SampleTree.Accumulator(a, b, BATCH, WIDTH);
        for (int i = a; i < b; i++) acc.add(i, samples[i]);
        return acc;
    }

    @Test
    void theSumIsTheTreesWhateverTheShardsAndTheArrivalOrder() throws Exception {
        float[][] s = samples();
        float[] one = shard(s, 0, BATCH).sums().get(0); // 1 replica: its single piece is the whole tree
        float[] naive = new float[WIDTH];
        for (float[] row : s) for (int i = 0; i < WIDTH; i++) naive[i] += row[i];
        assertTrue(!java.util.Arrays.equals(one, naive), "the data must round differently in another order, or the test proves nothing");

        // 4 replicas: rows 0..8, 8..16, 16..30 and one without rows; they arrive in the order 3, 2, 0, 1
        HostAllReduce r = new HostAllReduce(4);
        int[][] ranges = {{0, 8}, {8, 16}, {16, 30}, {30, 30}};
        for (int k : new int[] {3, 2, 0, 1}) {
            SampleTree.Accumulator acc = shard(s, ranges[k][0], ranges[k][1]);
            r.contributePieces(1, k, 0, BATCH, acc.blocks(), acc.sums());
        }
        assertArrayEquals(one, r.result(1, 0, Duration.ofSeconds(1)));

        // uneven shards of 30 over 8 replicas (4,4,4,4,4,4,4,2), arriving from the last
        HostAllReduce r8 = new HostAllReduce(8);
        for (int k = 7; k >= 0; k--) {
            SampleTree.Accumulator acc = shard(s, 4 * k, Math.min(BATCH, 4 * k + 4));
            r8.contributePieces(2, k, 0, BATCH, acc.blocks(), acc.sums());
        }
        assertArrayEquals(one, r8.result(2, 0, Duration.ofSeconds(1)));
    }

    @Test
    void aWithdrawnReplicaOffersItsPiecesAgain() throws Exception {
        float[][] s = samples();
        HostAllReduce r = new HostAllReduce(2);
        SampleTree.Accumulator left = shard(s, 0, 15), right = shard(s, 15, 30);
        r.contributePieces(1, 0, 0, BATCH, left.blocks(), left.sums());
        r.contributePieces(1, 1, 0, BATCH, right.blocks(), List.of(new float[WIDTH], new float[WIDTH], new float[WIDTH], new float[WIDTH]).subList(0, right.blocks().size()));
        r.withdraw(1, 1);
        r.contributePieces(1, 1, 0, BATCH, right.blocks(), right.sums());
        assertArrayEquals(shard(s, 0, BATCH).sums().get(0), r.result(1, 0, Duration.ofSeconds(1)));
    }

    @Test
    void plainValuesAndTreePiecesDoNotMix() {
        HostAllReduce r = new HostAllReduce(2);
        r.contribute(1, 0, 0, new float[WIDTH]);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> r.contributePieces(1, 1, 0, BATCH, List.of(), List.of()));
        assertTrue(e.getMessage().contains("plain values"), e.getMessage());
    }
}
