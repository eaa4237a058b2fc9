package dev.phalanx.parallel;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import dev.phalanx.autograd.Reproducible;
import dev.phalanx.tensor.Tensor;

/**
 * Parameters grouped into buckets of about {@code capFloats} values, in reverse registration
 * order (the last layers' gradients are ready first during backward, as in DDP). The grouping
 * depends only on the shapes, so every replica builds the same buckets.
 */
public final class GradientBuckets {

    private final List<List<Tensor>> buckets = new ArrayList<>();
    private final int[] sizes;
    private final Map<Tensor, Integer> bucketOf = new IdentityHashMap<>();

    public GradientBuckets(List<Tensor> params, int capFloats) {
        if (capFloats < 1) throw new IllegalArgumentException("bucket cap must be >= 1 float, got " + capFloats);
        List<Tensor> current = new ArrayList<>();
        int size = 0;
        for (int i = params.size() - 1; i >= 0; i--) {
            Tensor p = params.get(i);
            if (!current.isEmpty() && size + p.numel() > capFloats) {
                buckets.add(current);
                current = new ArrayList<>();
                size = 0;
            }
            current.add(p);
            size += p.numel();
        }
        if (!current.isEmpty()) buckets.add(current);
        sizes = new int[buckets.size()];
        for (int b = 0; b < buckets.size(); b++) {
            for (Tensor p : buckets.get(b)) {
                sizes[b] += p.numel();
                bucketOf.put(p, b);
            }
        }
    }

    public int count() {
        return buckets.size();
    }

    public int size(int bucket) {
        return sizes[bucket];
    }

    public List<Tensor> params(int bucket) {
        return buckets.get(bucket);
    }

    /** The bucket holding this parameter, or -1 when it is not one of ours. */
    public int bucketOf(Tensor param) {
        Integer b = bucketOf.get(param);
        return b == null ? -1 : b;
    }

    /** The bucket's gradients, concatenated (zeros for a parameter without a gradient). */
    public float[] flatten(int bucket) {
        float[] out = new float[sizes[bucket]];
        int off = 0;
        for (Tensor p : buckets.get(bucket)) {
            if (p.grad() != null) System.arraycopy(p.grad().data(), 0, out, off, p.numel());
            off += p.numel();
        }
        return out;
    }

    /**
     * Reproducible mode (issue #13): the bucket's per-sample sums for each of the shard's tree
     * pieces, concatenated like {@link #flatten} (one array per piece, zeros for a parameter the
     * loss did not use). A gradient that no op summed along the tree cannot be reproduced: refused.
     */
    public List<float[]> pieces(int bucket, Reproducible.Shard shard) {
        int count = shard.blocks().size();
        List<float[]> out = new ArrayList<>(count);
        for (int k = 0; k < count; k++) out.add(new float[sizes[bucket]]);
        int off = 0;
        for (Tensor p : buckets.get(bucket)) {
            List<float[]> mine = shard.pieces(p);
            if (mine == null && p.grad() != null) {
                throw new IllegalStateException("reproducible mode: a parameter of shape " + java.util.Arrays.toString(p.shape())
                        + " got a gradient from an op that does not sum over samples along the tree (only linear and conv2d do); "
                        + "use the default mode for this model");
            }
            if (mine != null) for (int k = 0; k < count; k++) System.arraycopy(mine.get(k), 0, out.get(k), off, p.numel());
            off += p.numel();
        }
        return out;
    }

    /** Writes reduced values back as the parameters' gradients. */
    public void unflatten(int bucket, float[] values) {
        int off = 0;
        for (Tensor p : buckets.get(bucket)) {
            if (p.grad() == null) p.setGrad(Tensor.zeros(p.shape()));
            System.arraycopy(values, off, p.grad().data(), 0, p.numel());
            off += p.numel();
        }
    }
}
