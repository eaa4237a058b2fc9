package dev.phalanx.autograd;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import dev.phalanx.kernels.cpu.BufferPool;
import dev.phalanx.kernels.reduce.SampleTree;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Tensor;

/**
 * The reproducible mode of issue #13, per thread like {@link GradMode}: while a {@link Shard} is
 * bound, the ops do every sample's work in an order that does not depend on how the batch was
 * cut (row by row), scale the loss by 1/B of the GLOBAL batch per sample, and sum weight and bias
 * gradients over samples along {@link SampleTree}: each such op records, per parameter, the sums
 * of the shard's {@linkplain SampleTree#pieces pieces}, which the replica hands to the all-reduce
 * (or, on 1 replica, combines itself). A replica binds its shard around forward and backward:
 * {@code try (var scope = Reproducible.bind(offset, rows, batch)) { ... }}. Nothing is global.
 */
public final class Reproducible {

    private static final ThreadLocal<Shard> CURRENT = new ThreadLocal<>();

    private Reproducible() { }

    /** The shard bound on this thread, or null outside the reproducible mode. */
    public static Shard current() {
        return CURRENT.get();
    }

    /** Binds rows {@code [offset, offset + rows)} of a global batch of {@code batch} rows to this thread until the scope closes. */
    public static Scope bind(int offset, int rows, int batch) {
        Shard previous = CURRENT.get();
        Shard shard = new Shard(offset, rows, batch);
        CURRENT.set(shard);
        return new Scope(shard, previous);
    }

    /** One shard's place in the global batch, and the tree pieces its ops recorded. */
    public static final class Shard {
        private final int offset, rows, batch;
        private final List<SampleTree.Block> blocks;
        private final Map<Tensor, List<float[]>> pieces = new IdentityHashMap<>();
        private LossTree loss;

        private Shard(int offset, int rows, int batch) {
            this.blocks = SampleTree.pieces(offset, offset + rows, batch);
            this.offset = offset;
            this.rows = rows;
            this.batch = batch;
        }

        /** The global index of this shard's first row. */
        public int offset() {
            return offset;
        }

        public int rows() {
            return rows;
        }

        /** The global batch size B. */
        public int batch() {
            return batch;
        }

        /** The tree's largest whole subtrees inside this shard, left to right. */
        public List<SampleTree.Block> blocks() {
            return blocks;
        }

        /** A fresh accumulator for per-sample contributions of {@code width} floats over this shard's rows. */
        public SampleTree.Accumulator accumulator(int width) {
            return new SampleTree.Accumulator(offset, offset + rows, batch, width);
        }

        /**
         * Records the sums of the mean loss's per-sample values over this shard's pieces and
         * the divisor of the mean (the last loss op of a forward wins), so that whoever gathers
         * the shards can finish the loss along the tree: {@link LossTree#value}.
         */
        public void recordLoss(List<float[]> sums, float divisor) {
            Map<SampleTree.Block, float[]> byBlock = new java.util.LinkedHashMap<>();
            for (int k = 0; k < sums.size(); k++) byBlock.put(blocks.get(k), sums.get(k));
            loss = new LossTree(batch, byBlock, divisor);
        }

        /** The loss's tree pieces recorded by a mean loss op, or null where none ran. */
        public LossTree loss() {
            return loss;
        }

        /** Checks that an op sees this shard's rows: anything else would sum samples this shard does not hold. */
        public void checkRows(String op, int n) {
            if (n != rows) {
                throw new IllegalStateException(op + " in reproducible mode: got " + n + " rows, but the shard holds " + rows
                        + " (rows " + offset + ".." + (offset + rows) + " of " + batch + "); only per-sample models are supported");
            }
        }

        /**
         * Records the per-piece sums of {@code param}'s gradient. A parameter used twice in one
         * step would need its uses added per sample before the tree, which is not done: refused.
         */
        public void record(Tensor param, List<float[]> sums) {
            if (pieces.putIfAbsent(param, sums) != null) {
                throw new IllegalStateException("reproducible mode: a parameter of shape " + java.util.Arrays.toString(param.shape())
                        + " is used twice in one step; its per-sample sums cannot be kept in the tree order (use the default mode)");
            }
        }

        /** The per-piece sums recorded for {@code param}, or null when no op recorded any. */
        public List<float[]> pieces(Tensor param) {
            return pieces.get(param);
        }

        /**
         * Where this shard is the whole batch (1 replica): sets each parameter's gradient to the
         * tree finished from its pieces, the very bits N replicas' all-reduce gives them. The
         * pieces (and a combined sum) then go back to the backend's buffer pool: nothing else
         * holds them (the gradients handed to autograd were copied or added into {@code .grad}
         * during backward), and this shard forgets them, so the next step's pieces reuse their
         * arrays instead of zeroing fresh ones (fc1's 48,000 floats: about 8 us a step).
         */
        public void finishGradients(List<Tensor> params) {
            if (rows != batch) throw new IllegalStateException("rows " + offset + ".." + (offset + rows) + " are not the whole batch of " + batch);
            for (Tensor p : params) {
                List<float[]> sums = pieces.get(p);
                if (sums == null) {
                    if (p.grad() == null) continue;
                    throw new IllegalStateException("reproducible mode: a parameter of shape " + java.util.Arrays.toString(p.shape())
                            + " got a gradient from an op that does not sum over samples along the tree (only linear and conv2d do); "
                            + "use the default mode for this model");
                }
                float[] g;
                if (sums.size() == 1) {
                    g = sums.get(0);                            // the one piece is the root: the tree's sum itself, copied below
                } else {
                    Map<SampleTree.Block, float[]> byBlock = new java.util.HashMap<>();
                    for (int k = 0; k < sums.size(); k++) byBlock.put(blocks.get(k), sums.get(k));
                    g = SampleTree.combine(batch, byBlock);
                }
                System.arraycopy(g, 0, p.grad().data(), 0, g.length);
                BufferPool pool = Backends.cpu().buffers();
                if (g != sums.get(0)) pool.recycle(g);
                for (float[] piece : sums) pool.recycle(piece);
            }
            pieces.clear();
        }

        /**
         * Left-to-right sum of the pieces: the shard's own gradient, which the tree's combine
         * later replaces. With one piece (1 replica: the root) that piece itself, not a copy: a
         * gradient handed to autograd is only read (the engine copies it or adds it into the
         * parameter's gradient), and the pieces are never written after they are recorded.
         */
        public static float[] fold(List<float[]> sums, int width) {
            if (sums.size() == 1) return sums.get(0);
            float[] out = new float[width];
            for (float[] s : sums) for (int i = 0; i < width; i++) out[i] += s[i];
            return out;
        }
    }

    /**
     * A shard's part of a mean loss: the sums of the per-sample losses over its tree pieces
     * (one float each) and the mean's divisor (B, or B times the elements per sample). The
     * loss of the whole batch is the tree finished from every shard's pieces, divided once:
     * the same float operations for any replica count, so the logged loss is bitwise the same.
     */
    public record LossTree(int batch, Map<SampleTree.Block, float[]> pieces, float divisor) {

        /** The batch's mean loss from the parts of shards that cover it exactly. */
        /**
         * Whether the parts' pieces cover their whole batch: they do for the replicas of one
         * JVM, and do not on one node of a cluster, which holds only its own rows.
         */
        public static boolean coverTheBatch(List<LossTree> parts) {
            if (parts.isEmpty()) return false;
            long samples = 0;
            for (LossTree t : parts) for (SampleTree.Block b : t.pieces().keySet()) samples += b.end() - b.start();
            return samples == parts.get(0).batch();
        }

        public static float value(List<LossTree> parts) {
            if (parts.isEmpty()) throw new IllegalArgumentException("no shard recorded a loss");
            Map<SampleTree.Block, float[]> all = new java.util.HashMap<>();
            for (LossTree t : parts) {
                if (t.batch() != parts.get(0).batch() || t.divisor() != parts.get(0).divisor()) {
                    throw new IllegalArgumentException("loss parts of different batches: " + t.batch() + " / " + t.divisor() + " and "
                            + parts.get(0).batch() + " / " + parts.get(0).divisor());
                }
                all.putAll(t.pieces());
            }
            return SampleTree.combine(parts.get(0).batch(), all)[0] / parts.get(0).divisor();
        }
    }

    /** Restores what was bound before; closing twice is harmless. */
    public static final class Scope implements AutoCloseable {
        private final Shard shard;
        private final Shard previous;
        private boolean open = true;

        private Scope(Shard shard, Shard previous) {
            this.shard = shard;
            this.previous = previous;
        }

        public Shard shard() {
            return shard;
        }

        @Override
        public void close() {
            if (!open) return;
            open = false;
            if (previous == null) CURRENT.remove(); else CURRENT.set(previous);
        }
    }
}
