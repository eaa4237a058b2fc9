package dev.phalanx.kernels.cpu;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Map;

/**
 * Float arrays that one backend's ops have finished with, kept by length for the next op that
 * needs one of that length. A fresh Java array costs its zeroing and, as the young generation
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
        float[] a = null;
        if (enabled && n >= MIN_FLOATS) {
            synchronized (this) {
                ArrayDeque<float[]> q = free.get(n);
                if (q != null && !q.isEmpty()) {
                    a = q.pop();
                    bytes -= (long) n * Float.BYTES;
                }
            }
        }
        if (a == null) a = new float[n];
        if (POISON) java.util.Arrays.fill(a, Float.NaN);
        return a;
    }

    /** Takes back an array that nothing references any more (see the class comment for who may call this). */
    public void recycle(float[] a) {
        if (!enabled || a.length < MIN_FLOATS) return;
        synchronized (this) {
            long size = (long) a.length * Float.BYTES;
            if (bytes + size > MAX_BYTES) return;
            ArrayDeque<float[]> q = free.computeIfAbsent(a.length, k -> new ArrayDeque<>(PER_LENGTH));
            if (q.size() >= PER_LENGTH) return;
            q.push(a);
            bytes += size;
        }
    }

    /** Bytes held for reuse now (for tests and reports). */
    public synchronized long heldBytes() {
        return bytes;
    }
}
