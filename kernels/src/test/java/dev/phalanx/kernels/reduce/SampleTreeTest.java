package dev.phalanx.kernels.reduce;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import dev.phalanx.kernels.reduce.SampleTree.Block;

class SampleTreeTest {

    @Test
    void piecesAreTheLargestWholeSubtrees() {
        assertEquals(List.of(new Block(0, 30)), SampleTree.pieces(0, 30, 30), "the root, [0, 32) ∩ [0, 30)");
        assertEquals(List.of(new Block(16, 30)), SampleTree.pieces(16, 30, 30));
        assertEquals(List.of(new Block(0, 8), new Block(8, 10)), SampleTree.pieces(0, 10, 30));
        assertEquals(List.of(new Block(10, 12), new Block(12, 16), new Block(16, 20)), SampleTree.pieces(10, 20, 30));
        assertEquals(List.of(new Block(20, 24), new Block(24, 30)), SampleTree.pieces(20, 30, 30));
        assertEquals(List.of(new Block(0, 4)), SampleTree.pieces(0, 4, 4));
        assertEquals(List.of(), SampleTree.pieces(7, 7, 30));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 7, 30, 64, 255, 256, 1000})
    void atMostTwoLog2BPiecesForAnyRange(int batch) {
        int bound = 2 * (32 - Integer.numberOfLeadingZeros(batch));
        for (int a = 0; a <= batch; a += Math.max(1, batch / 37)) {
            for (int b = a; b <= batch; b += Math.max(1, batch / 41)) {
                List<Block> p = SampleTree.pieces(a, b, batch);
                assertTrue(p.size() <= bound, a + ".." + b + " of " + batch + ": " + p);
                int at = a;
                for (Block blk : p) {
                    assertEquals(at, blk.start());
                    at = blk.end();
                }
                assertEquals(b, at);
            }
        }
    }

    /** The tree's sum written out by recursion over [start, start+size) ∩ [0, B), sample by sample. */
    private static float[] reference(float[][] samples, int start, int size) {
        if (size == 1) return samples[start].clone();
        float[] left = reference(samples, start, size / 2);
        if (start + size / 2 >= samples.length) return left;
        float[] right = reference(samples, start + size / 2, size / 2);
        for (int i = 0; i < left.length; i++) left[i] += right[i];
        return left;
    }

    private static float[][] samples(int batch, int width, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[][] s = new float[batch][width];
        for (float[] row : s) for (int i = 0; i < width; i++) row[i] = (float) (r.nextGaussian() * Math.exp(r.nextDouble(-8, 8)));
        return s;
    }

    private static Map<Block, float[]> shardPieces(float[][] samples, int[] bounds) {
        Map<Block, float[]> all = new HashMap<>();
        for (int s = 0; s + 1 < bounds.length; s++) {
            SampleTree.Accumulator acc = new SampleTree.Accumulator(bounds[s], bounds[s + 1], samples.length, samples[0].length);
            for (int i = bounds[s]; i < bounds[s + 1]; i++) acc.add(i, samples[i]);
            for (int k = 0; k < acc.blocks().size(); k++) all.put(acc.blocks().get(k), acc.sums().get(k));
        }
        return all;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 5, 8, 13})
    void everyShardingGivesTheBitsOfOneShard(int shards) {
        for (int batch : new int[] {1, 7, 30, 64, 100}) {
            float[][] samples = samples(batch, 33, batch * 31L + shards);
            int root = Integer.highestOneBit(batch) == batch ? batch : Integer.highestOneBit(batch) * 2;
            float[] expected = reference(samples, 0, root);
            // torch.chunk-like shards and uneven random cuts
            int per = (batch + shards - 1) / shards;
            int n = (batch + per - 1) / per;
            int[] chunk = new int[n + 1];
            for (int i = 0; i <= n; i++) chunk[i] = Math.min(batch, i * per);
            assertArrayEquals(expected, SampleTree.combine(batch, shardPieces(samples, chunk)), 0f, batch + " in chunks of " + per);
            SplittableRandom r = new SplittableRandom(shards);
            int[] cuts = r.ints(shards - 1, 0, batch + 1).sorted().toArray();
            int[] uneven = new int[shards + 1];
            System.arraycopy(cuts, 0, uneven, 1, cuts.length);
            uneven[shards] = batch;
            assertArrayEquals(expected, SampleTree.combine(batch, shardPieces(samples, uneven)), 0f, batch + " cut at " + java.util.Arrays.toString(uneven));
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 5, 8})
    void columnSumsAreTheAccumulatorsBits(int shards) {
        for (int batch : new int[] {1, 7, 30, 64, 100}) {
            float[][] samples = samples(batch, 37, batch * 17L + shards);
            int per = (batch + shards - 1) / shards;
            for (int a = 0; a < batch; a += per) {
                int b = Math.min(batch, a + per);
                SampleTree.Accumulator acc = new SampleTree.Accumulator(a, b, batch, 37);
                for (int i = a; i < b; i++) acc.add(i, samples[i]);
                List<Block> pieces = SampleTree.pieces(a, b, batch);
                List<float[]> sums = new java.util.ArrayList<>();
                for (int k = 0; k < pieces.size(); k++) sums.add(new float[37]);
                for (int from = 0; from < 37; from += 10) {        // uneven column ranges, as threads would take them
                    int to = Math.min(37, from + 10);
                    SampleTree.sumColumns(pieces, sums, from, to,
                            (sample, f, t, dst) -> System.arraycopy(samples[sample], f, dst, 0, t - f), new float[SampleTree.depth(pieces)][to - from]);
                }
                for (int k = 0; k < pieces.size(); k++) {
                    assertArrayEquals(acc.sums().get(k), sums.get(k), 0f, "piece " + pieces.get(k) + " of rows " + a + ".." + b + " of " + batch);
                }
            }
        }
    }

    /**
     * An accumulator whose buffers come from a pool (used arrays, here full of NaN, handed out
     * again and taken back through {@code releaseBuffers}) gives the bits of the reference tree,
     * for every shard of several cuts, and takes contributions longer than its width (their
     * first {@code width} values): every buffer element is written before it is read.
     */
    @Test
    void anAccumulatorOnUsedBuffersGivesTheTreesBits() {
        java.util.ArrayDeque<float[]> pool = new java.util.ArrayDeque<>();
        int width = 33;
        java.util.function.IntFunction<float[]> take = n -> {
            float[] a = pool.isEmpty() ? new float[n] : pool.pop();
            java.util.Arrays.fill(a, Float.NaN);
            return a;
        };
        for (int batch : new int[] {4, 30, 64}) {
            float[][] samples = samples(batch, width + 3, batch * 7L);
            int root = Integer.highestOneBit(batch) == batch ? batch : Integer.highestOneBit(batch) * 2;
            float[][] narrow = new float[batch][];
            for (int i = 0; i < batch; i++) narrow[i] = java.util.Arrays.copyOf(samples[i], width);
            float[] expected = reference(narrow, 0, root);
            for (int[] cut : new int[][] {{0, batch}, {0, 1, batch}, {0, 3, batch / 2 + 1, batch}}) {
                Map<Block, float[]> all = new HashMap<>();
                for (int s = 0; s + 1 < cut.length; s++) {
                    SampleTree.Accumulator acc = new SampleTree.Accumulator(cut[s], cut[s + 1], batch, width, take);
                    for (int i = cut[s]; i < cut[s + 1]; i++) acc.add(i, samples[i]);
                    for (int k = 0; k < acc.blocks().size(); k++) all.put(acc.blocks().get(k), acc.sums().get(k));
                    acc.releaseBuffers(pool::push);
                }
                float[] got = SampleTree.combine(batch, all);
                for (int i = 0; i < width; i++) {
                    assertEquals(Float.floatToRawIntBits(expected[i]), Float.floatToRawIntBits(got[i]),
                            "element " + i + ", batch " + batch + " cut at " + java.util.Arrays.toString(cut));
                }
                for (float[] piece : all.values()) pool.push(piece);  // used again, dirty, by the next cut
            }
        }
    }

    @Test
    void aLeftToRightSumWouldDifferSoTheTreeMatters() {
        float[][] samples = samples(30, 64, 5);
        float[] tree = SampleTree.combine(30, shardPieces(samples, new int[] {0, 30}));
        float[] serial = new float[64];
        for (float[] s : samples) for (int i = 0; i < 64; i++) serial[i] += s[i];
        assertFalse(java.util.Arrays.equals(tree, serial), "these magnitudes make the grouping visible");
    }

    @Test
    void missingSamplesAndDisorderAreErrors() {
        float[][] samples = samples(10, 4, 1);
        Map<Block, float[]> some = shardPieces(samples, new int[] {0, 5});
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SampleTree.combine(10, some));
        assertTrue(e.getMessage().startsWith("the pieces do not cover the batch of 10 samples"), e.getMessage());
        SampleTree.Accumulator acc = new SampleTree.Accumulator(2, 6, 10, 4);
        IllegalStateException order = assertThrows(IllegalStateException.class, () -> acc.add(3, samples[3]));
        assertEquals("sample 3 out of order: expected 2", order.getMessage());
        assertThrows(IllegalArgumentException.class, () -> SampleTree.pieces(4, 11, 10));
    }
}
