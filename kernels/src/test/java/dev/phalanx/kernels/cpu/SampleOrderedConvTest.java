package dev.phalanx.kernels.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.reduce.SampleTree;

/**
 * The reproducible mode's convolution forward and backward-data (issue #13): an image's bits do
 * not depend on the shard that holds it. Through oneDNN each image takes the slot its global
 * index fixes in a chunk of images, the other slots holding its neighbours or zeros depending on
 * the cut; this checks that assumption (a convolution does not mix images) for the primitives
 * oneDNN picks on this machine, on LeNet's shapes and an odd one, for even and uneven shards,
 * on 1 and 2 threads. Also: the kernels agree with the default mode's within float rounding.
 */
class SampleOrderedConvTest {

    private static final List<ConvGeometry> SHAPES = List.of(
            new ConvGeometry(1, 3, 32, 32, 6, 5, 5, 1, 1, 0, 0),
            new ConvGeometry(1, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0),
            new ConvGeometry(1, 4, 9, 8, 7, 3, 2, 2, 1, 1, 1));

    /** Shard bounds over a batch of 30: one shard, chunk-aligned, torch.chunk-like, uneven, and empty shards. */
    private static final int[][] CUTS = {{0, 30}, {0, 8, 16, 24, 30}, {0, 10, 20, 30}, {0, 1, 2, 13, 13, 29, 30}, {0, 7, 9, 30}};

    private static ConvGeometry withImages(ConvGeometry g, int n) {
        return new ConvGeometry(n, g.cin(), g.h(), g.w(), g.cout(), g.kh(), g.kw(), g.sh(), g.sw(), g.ph(), g.pw());
    }

    /** The values' bit patterns, so that +0 and -0 (equal as floats) count as different. */
    private static int[] bits(float[] a) {
        int[] b = new int[a.length];
        for (int i = 0; i < a.length; i++) b[i] = Float.floatToRawIntBits(a[i]);
        return b;
    }

    private static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    @Test
    void everyCutGivesEachImageTheBitsOfTheWholeBatch() {
        for (int threads : new int[] {1, 2}) {
            try (CpuBackend be = CpuBackend.create(threads, CpuBackend.Kernels.AUTO)) {
                DnnlConvTest.assumeOneDnn(be);
                int batch = 30;
                Random r = new Random(13);
                for (ConvGeometry shape : SHAPES) {
                    ConvGeometry all = withImages(shape, batch);
                    float[] x = random(r, batch * all.inImage()), w = random(r, all.cout() * all.patch()), b = random(r, all.cout());
                    float[] dout = random(r, batch * all.outImage());
                    float[] wantOut = new float[batch * all.outImage()], wantDx = new float[batch * all.inImage()];
                    SampleOrderedKernels.convForward(be, all, x, w, b, wantOut, 0, batch);
                    SampleOrderedKernels.convBackwardData(be, all, dout, w, wantDx, 0, batch);
                    for (int[] cut : CUTS) {
                        float[] out = new float[wantOut.length], dx = new float[wantDx.length];
                        for (int s = 0; s + 1 < cut.length; s++) {
                            int a = cut[s], n = cut[s + 1] - a;
                            ConvGeometry g = withImages(shape, n);
                            float[] shardOut = new float[n * g.outImage()], shardDx = new float[n * g.inImage()];
                            SampleOrderedKernels.convForward(be, g, Arrays.copyOfRange(x, a * g.inImage(), (a + n) * g.inImage()), w, b, shardOut, a, batch);
                            SampleOrderedKernels.convBackwardData(be, g, Arrays.copyOfRange(dout, a * g.outImage(), (a + n) * g.outImage()), w, shardDx, a, batch);
                            System.arraycopy(shardOut, 0, out, a * g.outImage(), shardOut.length);
                            System.arraycopy(shardDx, 0, dx, a * g.inImage(), shardDx.length);
                        }
                        String where = shape + " cut at " + Arrays.toString(cut) + ", " + threads + " threads";
                        assertArrayEquals(wantOut, out, 0f, "forward, " + where);
                        assertArrayEquals(wantDx, dx, 0f, "backward-data, " + where);
                    }
                    // and the values are the convolution's (the default mode's kernels, within rounding)
                    float[] defaultOut = new float[wantOut.length], defaultDx = new float[wantDx.length];
                    ConvKernels.forward(be, all, x, w, b, defaultOut);
                    ConvKernels.backwardData(be, all, dout, w, defaultDx);
                    assertClose(defaultOut, wantOut, "forward of " + shape);
                    assertClose(defaultDx, wantDx, "backward-data of " + shape);
                }
            }
        }
    }

    /**
     * The weight and bias gradients: each image's contribution computed alone (through oneDNN,
     * its inputs reordered a group of images at a time where the primitive's layouts allow) and
     * summed along the tree, so every cut's pieces finish the tree with the bits of the whole
     * batch; and the sum is the default mode's weight gradient within float rounding (an image
     * handed to the primitive at the wrong place would not be).
     */
    @Test
    void weightGradientsOfEveryCutFinishTheTreeOfTheWholeBatch() {
        for (int threads : new int[] {1, 2}) {
            try (CpuBackend be = CpuBackend.create(threads, CpuBackend.Kernels.AUTO)) {
                DnnlConvTest.assumeOneDnn(be);
                int batch = 30;
                Random r = new Random(31);
                for (ConvGeometry shape : SHAPES) {
                    ConvGeometry all = withImages(shape, batch);
                    int wsize = all.cout() * all.patch();
                    float[] x = random(r, batch * all.inImage()), dout = random(r, batch * all.outImage());
                    SampleOrderedKernels.ConvWeightSums want = SampleOrderedKernels.convWeight(be, all, x, dout, true, true, 0, batch);
                    for (int[] cut : CUTS) {
                        Map<SampleTree.Block, float[]> w = new HashMap<>(), b = new HashMap<>();
                        for (int s = 0; s + 1 < cut.length; s++) {
                            int a = cut[s], n = cut[s + 1] - a;
                            if (n == 0) continue;
                            ConvGeometry g = withImages(shape, n);
                            SampleOrderedKernels.ConvWeightSums got = SampleOrderedKernels.convWeight(be, g, Arrays.copyOfRange(x, a * g.inImage(), (a + n) * g.inImage()),
                                    Arrays.copyOfRange(dout, a * g.outImage(), (a + n) * g.outImage()), true, true, a, batch);
                            List<SampleTree.Block> blocks = SampleTree.pieces(a, a + n, batch);
                            for (int k = 0; k < blocks.size(); k++) {
                                w.put(blocks.get(k), got.weight().get(k));
                                b.put(blocks.get(k), got.bias().get(k));
                            }
                        }
                        String where = shape + " cut at " + Arrays.toString(cut) + ", " + threads + " threads";
                        assertArrayEquals(want.weight().get(0), SampleTree.combine(batch, w), 0f, "weight gradient, " + where);
                        assertArrayEquals(want.bias().get(0), SampleTree.combine(batch, b), 0f, "bias gradient, " + where);
                    }
                    float[] dw = new float[wsize], db = new float[all.cout()];
                    ConvKernels.backwardWeight(be, all, x, dout, dw, db);
                    assertClose(dw, want.weight().get(0), "weight gradient of " + shape);
                    assertClose(db, want.bias().get(0), "bias gradient of " + shape);
                }
            }
        }
    }

    /**
     * The weight gradients summed in the primitive's own layout and reordered once per piece
     * (what {@code convWeight} does) have the bits of every image's gradient reordered to oihw
     * and summed along the tree (what it did before): a reorder only moves values. Checked for
     * several shards of a batch of 70 (pieces of 1 to 64 images, groups of 32 and a rest), on 1
     * and 2 threads, conv1's padded blocks (6 output channels in blocks of 16 on AVX-512) included.
     */
    @Test
    void weightSumsInThePrimitivesLayoutHaveTheBitsOfPlainOnes() {
        for (int threads : new int[] {1, 2}) {
            try (CpuBackend be = CpuBackend.create(threads, CpuBackend.Kernels.AUTO)) {
                DnnlConvTest.assumeOneDnn(be);
                int batch = 70;
                Random r = new Random(37);
                for (ConvGeometry shape : SHAPES) {
                    int wsize = shape.cout() * shape.patch();
                    for (int[] shard : new int[][] {{0, 70}, {0, 4}, {3, 70}, {5, 41}}) {
                        int a = shard[0], n = shard[1] - a;
                        ConvGeometry g = withImages(shape, n);
                        float[] x = random(r, n * g.inImage()), dout = random(r, n * g.outImage());
                        SampleTree.Accumulator plain = new SampleTree.Accumulator(a, a + n, batch, wsize);
                        for (int from = 0; from < n; from += DnnlConvPlan.WEIGHT_GROUP) {
                            int count = Math.min(n - from, DnnlConvPlan.WEIGHT_GROUP);
                            float[][] dw = new float[count][wsize], db = new float[count][g.cout()];
                            be.dnnlConv().backwardWeightsEachImage(g, x, dout, from, count, dw, db);
                            for (int j = 0; j < count; j++) plain.add(a + from + j, dw[j]);
                        }
                        List<float[]> got = SampleOrderedKernels.convWeight(be, g, x, dout, true, false, a, batch).weight();
                        assertEquals(plain.sums().size(), got.size());
                        for (int k = 0; k < got.size(); k++) {
                            assertArrayEquals(bits(plain.sums().get(k)), bits(got.get(k)),
                                    "piece " + plain.blocks().get(k) + " of " + shape + ", images " + a + ".." + (a + n) + ", " + threads + " threads");
                        }
                    }
                }
            }
        }
    }

    @Test
    void chunksFollowTheGlobalIndex() {
        DnnlConv.Slots s = new DnnlConv.Slots(13, 16, 8);              // images 13..28: slots 5-7 of chunk 1, all of 2, 0-4 of 3
        assertEquals(3, s.chunks());
        assertEquals(List.of(0, 3, 11), List.of(s.from(0), s.from(1), s.from(2)));
        assertEquals(List.of(5, 0, 0), List.of(s.firstSlot(0), s.firstSlot(1), s.firstSlot(2)));
        assertEquals(List.of(3, 8, 5), List.of(s.count(0), s.count(1), s.count(2)));
        assertEquals(0, new DnnlConv.Slots(7, 0, 8).chunks());
        assertEquals(1, new DnnlConv.Slots(0, 4, 4).chunks());
        assertEquals(4, SampleOrderedKernels.convSlots(4));
        assertEquals(8, SampleOrderedKernels.convSlots(30));
        assertEquals(8, SampleOrderedKernels.convSlots(256));
        assertEquals(1, SampleOrderedKernels.convSlots(1));
    }

    private static void assertClose(float[] want, float[] got, String what) {
        float scale = 0f;
        for (float v : want) scale = Math.max(scale, Math.abs(v));
        for (int i = 0; i < want.length; i++) {
            if (Math.abs(want[i] - got[i]) > 1e-5f * scale) throw new AssertionError(what + ": element " + i + " is " + got[i] + ", expected " + want[i]);
        }
    }
}
