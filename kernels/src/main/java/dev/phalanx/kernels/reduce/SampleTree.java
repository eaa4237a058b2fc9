package dev.phalanx.kernels.reduce;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.IntFunction;

/**
 * The one fixed pairwise summation tree over a batch's global sample indices {@code [0, B)}
 * (issue #13, reproducible mode). Its nodes are the aligned blocks
 * {@code [k·2^j, (k+1)·2^j) ∩ [0, B)}; a node's sum is its left child's plus its right child's,
 * or its left child's alone where the right one is empty. Whoever sums a set of samples sums it
 * along this tree, so 1 replica and N replicas perform the same float additions in the same
 * order, however the batch was cut:
 * <ul>
 * <li>a replica holding rows {@code [a, b)} returns the sums of the largest whole subtrees inside
 * {@code [a, b)} ({@link #pieces}, at most 2·log2(B) of them), built by an {@link Accumulator}
 * with O(log B) buffers;</li>
 * <li>whoever reduces finishes the same tree from those pieces ({@link #combine}).</li>
 * </ul>
 * Float addition is commutative bit for bit, so only the grouping matters, and the tree fixes it.
 */
public final class SampleTree {

    private SampleTree() { }

    /** One node of the tree: samples {@code [start, end)}. */
    public record Block(int start, int end) {
        public int size() {
            return end - start;
        }
    }

    /**
     * The largest whole subtrees inside {@code [a, b)}, left to right, for a batch of
     * {@code batch} samples. Empty for an empty range.
     */
    public static List<Block> pieces(int a, int b, int batch) {
        checkRange(a, b, batch);
        int root = rootSize(batch);
        List<Block> out = new ArrayList<>();
        int p = a;
        while (p < b) {
            int size = 1; // the largest node that starts at p (p aligned to its size) and ends inside [a, b)
            while (size < root && p % (size * 2) == 0 && Math.min(p + size * 2, batch) <= b) size *= 2;
            int end = Math.min(p + size, batch);
            out.add(new Block(p, end));
            p = end;
        }
        return out;
    }

    /** The root's size: the smallest power of two that holds the batch. */
    private static int rootSize(int batch) {
        return Integer.highestOneBit(batch) == batch ? batch : Integer.highestOneBit(batch) * 2;
    }

    /**
     * Finishes the tree of a batch from pieces that cover {@code [0, batch)} exactly (from any
     * shards), adding in the tree's order. The arrays are not changed; the result is new.
     */
    public static float[] combine(int batch, Map<Block, float[]> pieces) {
        if (batch <= 0) throw new IllegalArgumentException("a batch has at least one sample, got " + batch);
        int root = rootSize(batch);
        float[] sum = node(0, root, batch, pieces);
        if (sum == null) throw new IllegalArgumentException("the pieces do not cover the batch of " + batch + " samples: " + pieces.keySet());
        return sum == pieces.get(new Block(0, Math.min(root, batch))) ? sum.clone() : sum;
    }

    /** The sum of node [start, start + size) ∩ [0, batch), or null where a sample is missing. */
    private static float[] node(int start, int size, int batch, Map<Block, float[]> pieces) {
        int end = Math.min(start + size, batch);
        float[] own = pieces.get(new Block(start, end));
        if (own != null) return own;
        if (size == 1) return null;
        int half = size / 2;
        float[] left = node(start, half, batch, pieces);
        if (left == null) return null;
        if (start + half >= batch) return left;            // the right child is empty
        float[] right = node(start + half, half, batch, pieces);
        if (right == null) return null;
        float[] out = left.clone();
        add(out, right);
        return out;
    }

    static void add(float[] into, float[] x) {
        if (into.length != x.length) throw new IllegalArgumentException("pieces of " + into.length + " and " + x.length + " elements");
        for (int i = 0; i < into.length; i++) into[i] += x[i];
    }

    private static void checkRange(int a, int b, int batch) {
        if (a < 0 || b < a || b > batch) {
            throw new IllegalArgumentException("rows [" + a + ", " + b + ") are not inside a batch of " + batch);
        }
    }

    /**
     * The values of one sample's contribution, columns {@code [from, to)} of it, written to
     * {@code dst[0 .. to - from)}; each value computed from that sample alone. The other methods
     * are the tree's first levels in fewer passes: an implementation may compute each in one
     * pass, as long as every value is the same roundings in the same grouping as the default,
     * which spells it out with {@link #write} and additions.
     */
    @FunctionalInterface
    public interface Leaves {
        void write(int sample, int from, int to, float[] dst);

        /**
         * Samples {@code sample} and {@code sample + 1}'s values added, {@code dst[k] = leaf(sample)[k]
         * + leaf(sample + 1)[k]} (their node of the tree); {@code spare} is free to use.
         */
        default void writePair(int sample, int from, int to, float[] dst, float[] spare) {
            write(sample, from, to, dst);
            write(sample + 1, from, to, spare);
            addRange(dst, spare, to - from);
        }

        /**
         * The pair's node added to its left sibling, held in {@code dst}: {@code dst[k] = dst[k] +
         * (leaf(sample)[k] + leaf(sample + 1)[k])}; {@code spare} and {@code spare2} are free to use.
         */
        default void addPair(int sample, int from, int to, float[] dst, float[] spare, float[] spare2) {
            writePair(sample, from, to, spare, spare2);
            addRange(dst, spare, to - from);
        }

        /**
         * Two levels at once: the pair's node added to its left sibling {@code mid}, and that sum to
         * its own left sibling {@code dst}: {@code dst[k] = dst[k] + (mid[k] + (leaf(sample)[k] +
         * leaf(sample + 1)[k]))}. {@code mid}, {@code spare} and {@code spare2} may be overwritten.
         */
        default void addPairTwice(int sample, int from, int to, float[] dst, float[] mid, float[] spare, float[] spare2) {
            addPair(sample, from, to, mid, spare, spare2);
            addRange(dst, mid, to - from);
        }
    }

    /** How many partial sums {@link #sumColumns} keeps alive at most for pieces of these blocks. */
    public static int depth(List<Block> pieces) {
        int largest = 1;
        for (Block p : pieces) largest = Math.max(largest, p.size());
        int depth = 1;                                      // a piece of up to 2^k samples: k + 1 partial sums
        while (1 << (depth - 1) < largest) depth++;
        return depth;
    }

    /**
     * Columns {@code [from, to)} of the pieces' sums ({@code sums.get(k)[from .. to)} for piece
     * {@code k}), each piece summed along the tree from the leaves that {@code leaves} writes:
     * the same additions, in the same grouping, as {@link Accumulator} performs on whole
     * contributions, one column range at a time so that the partial sums stay in cache and no
     * array is made per sample. Column ranges are independent, so callers may run them on
     * different threads. {@code scratch} holds at least {@link #depth} arrays of
     * {@code to - from} floats.
     */
    public static void sumColumns(List<Block> pieces, List<float[]> sums, int from, int to, Leaves leaves, float[][] scratch) {
        int width = to - from;
        int[] levels = new int[scratch.length];
        for (int k = 0; k < pieces.size(); k++) {
            Block piece = pieces.get(k);
            int top = 0;
            // samples two by two from the piece's (aligned) start: each pair is a node of the tree
            for (int sample = piece.start(); sample < piece.end(); sample += 2) {
                if (sample + 1 >= piece.end()) {
                    leaves.write(sample, from, to, scratch[top]);
                    levels[top++] = 0;
                } else if (top >= 2 && levels[top - 1] == 1 && levels[top - 2] == 2) {
                    // the pair completes two nodes: (its left sibling + it), then (that one's left sibling + that)
                    leaves.addPairTwice(sample, from, to, scratch[top - 2], scratch[top - 1], scratch[top], scratch[top + 1]);
                    levels[top - 2] = 3;
                    top--;
                } else if (top >= 1 && levels[top - 1] == 1) {
                    leaves.addPair(sample, from, to, scratch[top - 1], scratch[top], scratch[top + 1]); // its left sibling + it
                    levels[top - 1] = 2;
                } else {
                    leaves.writePair(sample, from, to, scratch[top], scratch[top + 1]);
                    levels[top++] = 1;
                }
                // siblings: two sums of the same level (as in Accumulator.add)
                while (top >= 2 && levels[top - 1] == levels[top - 2]) {
                    addRange(scratch[top - 2], scratch[top - 1], width);
                    levels[top - 2]++;
                    top--;
                }
            }
            for (int t = top - 2; t >= 0; t--) addRange(scratch[t], scratch[t + 1], width); // fold the leftover right-nested nodes
            System.arraycopy(scratch[0], 0, sums.get(k), from, width);
        }
    }

    static void addRange(float[] into, float[] x, int n) {
        for (int i = 0; i < n; i++) into[i] += x[i];
    }

    /**
     * Sums the per-sample contributions of rows {@code [a, b)}, given one sample at a time in
     * order, into the sums of {@link #pieces}{@code (a, b, batch)}, with at most log2(B) + 1
     * buffers alive at once. Within a piece, two partial sums are added as soon as they are
     * siblings, and what is left at the piece's end is folded from the right: exactly the tree.
     * Buffers freed by an addition are reused for later samples, so feeding a sample makes no
     * new array (only each piece's sum is new).
     */
    public static final class Accumulator {
        private final int width;
        private final List<Block> pieces;
        private final IntFunction<float[]> arrays;
        private final List<float[]> done = new ArrayList<>();
        private final List<float[]> stack = new ArrayList<>();
        private final List<Integer> levels = new ArrayList<>();
        private final ArrayDeque<float[]> free = new ArrayDeque<>();
        private int piece, next;

        public Accumulator(int a, int b, int batch, int width) {
            this(a, b, batch, width, float[]::new);
        }

        /**
         * As above, its buffers (and so the pieces' sums) made by {@code arrays}, which may hand
         * out a used array of the length asked for: every element is written before it is read.
         */
        public Accumulator(int a, int b, int batch, int width, IntFunction<float[]> arrays) {
            this.pieces = pieces(a, b, batch);
            this.width = width;
            this.arrays = arrays;
            this.next = a;
        }

        /**
         * Adds sample {@code index}'s contribution, its first {@code width} values (read during
         * the call only); samples must come in order.
         */
        public void add(int index, float[] contribution) {
            if (piece >= pieces.size() || index != next) {
                throw new IllegalStateException("sample " + index + " out of order: expected " + (piece >= pieces.size() ? "none" : next));
            }
            if (contribution.length < width) throw new IllegalArgumentException("a contribution of " + contribution.length + " elements, expected " + width);
            next++;
            Block current = pieces.get(piece);
            int top = levels.size() - 1;
            if (top >= 0 && levels.get(top) == 0) {
                // a right leaf whose left sibling waits on the stack: their node, left + right, without copying the leaf first
                SampleTree.addRange(stack.get(top), contribution, width);
                levels.set(top, 1);
            } else {
                float[] leaf = free.isEmpty() ? arrays.apply(width) : free.pop();
                System.arraycopy(contribution, 0, leaf, 0, width);
                stack.add(leaf);
                levels.add(0);
            }
            // siblings: two sums of the same level whose left one is aligned to twice that level
            while (levels.size() >= 2 && levels.get(levels.size() - 1).equals(levels.get(levels.size() - 2))) {
                float[] right = stack.remove(stack.size() - 1);
                int level = levels.remove(levels.size() - 1);
                SampleTree.add(stack.get(stack.size() - 1), right);
                free.push(right);
                levels.set(levels.size() - 1, level + 1);
            }
            if (next == current.end()) {
                float[] acc = stack.remove(stack.size() - 1);
                while (!stack.isEmpty()) {                  // fold the leftover right-nested nodes
                    float[] left = stack.remove(stack.size() - 1);
                    SampleTree.add(left, acc);
                    free.push(acc);
                    acc = left;
                }
                levels.clear();
                done.add(acc);                              // handed out by sums(): never reused here
                piece++;
            }
        }

        /** The pieces' blocks, left to right. */
        public List<Block> blocks() {
            return pieces;
        }

        /** The pieces' sums, once every sample of [a, b) was added. */
        public List<float[]> sums() {
            if (piece != pieces.size()) throw new IllegalStateException("samples up to " + next + " added, the range is not complete");
            return done;
        }

        /** Hands the buffers it no longer needs (not the pieces' sums) to {@code taker}, once the range is complete. */
        public void releaseBuffers(Consumer<float[]> taker) {
            sums();
            while (!free.isEmpty()) taker.accept(free.pop());
        }
    }
}
