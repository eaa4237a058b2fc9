package dev.phalanx.autograd;

import java.util.IdentityHashMap;
import java.util.Map;

import dev.phalanx.kernels.cpu.BufferPool;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.HostStorage;
import dev.phalanx.tensor.Tensor;

/**
 * The pooled gradients of one backward walk (see {@link Tensor#pooledGradient}): how many of
 * the gradients the engine holds (pending, or just returned by a node) refer to each pooled
 * storage. When the count of a storage drops to zero, nothing can reach its array any more: the
 * nodes that read it forget it ({@link Node#forgetsGradOutput()}), users only ever see copies
 * (leaves' {@code .grad}, retained gradients), so it goes back to the backend's pool. A pooled
 * storage that reaches a node that does not promise to forget it is kept out of the pool for good.
 * Local to one walk: nothing here outlives {@link Backward#run}.
 */
final class GradBuffers {

    private final BufferPool pool;
    private final Map<HostStorage, int[]> held = new IdentityHashMap<>();

    GradBuffers(BufferPool pool) {
        this.pool = pool;
    }

    private static HostStorage pooled(Tensor g) {
        return g != null && g.storage() instanceof HostStorage h && h.recyclable() ? h : null;
    }

    /** One more reference to {@code g}'s storage: a node returned it, or it went into the pending sums. */
    void hold(Tensor g) {
        HostStorage s = pooled(g);
        if (s != null) held.computeIfAbsent(s, k -> new int[1])[0]++;
    }

    /**
     * Whether {@code g} is the only reference the walk holds to a pooled float32 storage, and
     * covers all of it in row-major order: a node that forgets its gradOutput may then write into it.
     */
    boolean sole(Tensor g) {
        HostStorage s = pooled(g);
        if (s == null || s.dtype() != DType.FLOAT32) return false;
        int[] c = held.get(s);
        return c != null && c[0] == 1 && g.storageOffset() == 0 && g.numel() == s.length() && g.isContiguous();
    }

    /** Drops one reference; the last one gives the array back to the pool. */
    void drop(Tensor g) {
        HostStorage s = pooled(g);
        if (s == null) return;
        int[] c = held.get(s);
        if (c == null) return;
        if (--c[0] == 0) {
            held.remove(s);
            s.keep(); // never given back twice, whatever still points at the storage object
            pool.recycle(s.floats());
        }
    }

    /** {@code g} went where the engine cannot follow it: its storage never goes back to the pool. */
    void escape(Tensor g) {
        HostStorage s = pooled(g);
        if (s != null) {
            s.keep();
            held.remove(s);
        }
    }
}
