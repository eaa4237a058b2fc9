package dev.phalanx.kernels.cpu;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Float and int arrays that one backend's ops have finished with, kept by length for the next op
 * that needs one of that length. A fresh Java array costs its zeroing and, as the young generation
 * runs through far more memory than the caches hold, writes to memory that is not in cache (a
 * ReLU backward into a fresh array took about 5x as long as one into a reused array); a
 * recycled array comes back warm.
 *
 * <p>Who may give an array back is the autograd engine's rule (DESIGN.md, "Tensors and their
 * storage", buffer reuse): only arrays that nothing else can reach. An array handed out has
 * its old contents: the taker writes every element. Bounded: at most {@value #PER_LENGTH}
 * arrays of each length and {@value #MAX_BYTES} bytes in all; arrays under
 * {@value #MIN_FLOATS} floats are not kept (a fresh small array is as cheap as a look-up).
 *
 * <p>One per backend, never shared between backends; the shared serial backend has none
 * ({@link #disabled()}: it takes nothing back), so that no pool is global. Calls are
 * synchronized: a backend may be used from several threads (uncontended, the lock costs a few
 * nanoseconds).
 */
public final class BufferPool {

    /** Arrays shorter than this are neither kept nor looked up. */
    static final int MIN_FLOATS = 1024;
    /** Arrays kept per length: a LeNet step frees one or two of each. */
    static final int PER_LENGTH = 4;
    /** Bytes kept in all, at most. */
    static final long MAX_BYTES = 256L << 20;
    /**
     * With {@code -Dphalanx.poisonPooledBuffers=true} (the test suite sets it) every array handed
     * out is filled with NaN first, so that a taker that reads an element it did not write shows
     * up in every golden test instead of depending on what the array held before.
     */
    static final boolean POISON = Boolean.getBoolean("phalanx.poisonPooledBuffers");

    private final boolean enabled;
    private final Map<Integer, ArrayDeque<float[]>> free = new HashMap<>();
    private final Map<Integer, ArrayDeque<int[]>> freeInts = new HashMap<>();
    private long bytes;

    private BufferPool(boolean enabled) {
        this.enabled = enabled;
    }

    static BufferPool create() {
        return new BufferPool(true);
    }

    /** A pool that keeps nothing: {@link #floats} always allocates and {@link #recycle} drops the array. */
    static BufferPool disabled() {
        return new BufferPool(false);
    }

    /** An array of exactly {@code n} floats whose contents are unspecified: the caller writes every element. */
    public float[] floats(int n) {
        float[] a = enabled && n >= MIN_FLOATS ? take(free, n) : null;
        if (a == null) a = new float[n];
        if (POISON) java.util.Arrays.fill(a, Float.NaN);
        return a;
    }

    /** An array of exactly {@code n} ints whose contents are unspecified: the caller writes every element. */
    public int[] ints(int n) {
        int[] a = enabled && n >= MIN_FLOATS ? take(freeInts, n) : null;
        if (a == null) a = new int[n];
        if (POISON) java.util.Arrays.fill(a, Integer.MIN_VALUE); // an index read before it is written fails at once
        return a;
    }

    /** Takes back an array that nothing references any more (see the class comment for who may call this). */
    public void recycle(float[] a) {
        if (enabled && a.length >= MIN_FLOATS) give(free, a, a.length);
    }

    /** As {@link #recycle(float[])}. */
    public void recycle(int[] a) {
        if (enabled && a.length >= MIN_FLOATS) give(freeInts, a, a.length);
    }

    private synchronized <A> A take(Map<Integer, ArrayDeque<A>> kept, int n) {
        ArrayDeque<A> q = kept.get(n);
        if (q == null || q.isEmpty()) return null;
        bytes -= (long) n * Float.BYTES; // ints and floats are both 4 bytes
        return q.pop();
    }

    private synchronized <A> void give(Map<Integer, ArrayDeque<A>> kept, A a, int length) {
        long size = (long) length * Float.BYTES;
        if (bytes + size > MAX_BYTES) return;
        ArrayDeque<A> q = kept.computeIfAbsent(length, k -> new ArrayDeque<>(PER_LENGTH));
        if (q.size() >= PER_LENGTH) return;
        q.push(a);
        bytes += size;
    }

    /** Bytes held for reuse now (for tests and reports). */
    public synchronized long heldBytes() {
        return bytes;
    }
}
