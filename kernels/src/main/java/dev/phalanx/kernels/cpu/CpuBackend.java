package dev.phalanx.kernels.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.IntConsumer;

/**
 * The CPU compute backend: convolutions through oneDNN when it loads, a GEMM (OpenBLAS when it
 * loads, pure Java otherwise) for everything else, and a fixed number of intra-op threads of its
 * own. Each replica owns one backend, so two replicas never share threads, oneDNN primitives or
 * scratch memory; nothing here is global. Work is split into pieces whose boundaries do not
 * depend on the thread count, so 1 and 2 threads give identical results.
 */
public final class CpuBackend implements AutoCloseable {

    /** AUTO: the native libraries (oneDNN, OpenBLAS) where they load; NATIVE: them or an error; JAVA: the pure-Java kernels. */
    public enum Kernels { AUTO, NATIVE, JAVA }

    private static final class NativeHolder { // loaded once, on first use; immutable afterwards
        static final OpenBlasGemm.Result OPENBLAS = OpenBlasGemm.load();
    }

    private static final class DnnlHolder { // loaded once, on first use; immutable afterwards
        static final OneDnn.Result ONEDNN = OneDnn.load();
    }

    private static final class SerialHolder {
        static final CpuBackend SERIAL = new CpuBackend(1, Kernels.AUTO, BufferPool.disabled());
    }

    private final Gemm gemm;
    private final int threads;
    private final ExecutorService pool; // null with one thread: everything runs on the caller
    private final String fallbackReason;
    private final DnnlConv dnnlConv; // null: convolutions as im2col + GEMM
    private final DnnlPool dnnlPool; // null: average pooling in Java
    private final String dnnlName;
    /** The pure-Java convolutions' im2col buffers, per lane (see ConvKernels). */
    private final LaneScratch convScratch;
    /** The reproducible mode's copies of linear weights in its row GEMM's layouts, kept per weight (see SampleOrderedKernels). */
    private final WeightLayouts weightLayouts = new WeightLayouts();
    /** Arrays the autograd engine found dead, for the next op's output (none kept by the serial backend). */
    private final BufferPool buffers;

    private CpuBackend(int threads, Kernels kernels, BufferPool buffers) {
        this.buffers = buffers;
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        Gemm chosen = null;
        String why = "";
        if (kernels != Kernels.JAVA) {
            OpenBlasGemm.Result r = NativeHolder.OPENBLAS;
            if (r.gemm().isPresent()) {
                chosen = r.gemm().get();
            } else if (kernels == Kernels.NATIVE) {
                throw new IllegalStateException("the native CPU kernels (OpenBLAS) did not load: " + r.whyNot());
            } else {
                why = r.whyNot();
            }
        } else {
            why = "pure Java kernels were asked for";
        }
        this.gemm = chosen != null ? chosen : JavaKernels.gemm();
        DnnlConv conv = null;
        DnnlPool avgPool = null;
        String dnnlName = "";
        if (kernels != Kernels.JAVA && chosen != null) {
            OneDnn.Result r = DnnlHolder.ONEDNN;
            if (r.dnnl().isPresent()) {
                conv = new DnnlConv(r.dnnl().get(), this);
                avgPool = new DnnlPool(r.dnnl().get(), this);
                dnnlName = r.dnnl().get().describe();
            } else if (kernels == Kernels.NATIVE) {
                throw new IllegalStateException("the native CPU kernels (oneDNN) did not load: " + r.whyNot());
            } else {
                why = "oneDNN did not load: " + r.whyNot();
            }
        }
        this.dnnlConv = conv;
        this.dnnlPool = avgPool;
        this.dnnlName = dnnlName;
        this.fallbackReason = why;
        this.convScratch = new LaneScratch(threads, ConvKernels.SCRATCH_SLOTS);
        if (threads == 1) {
            pool = null;
        } else {
            AtomicInteger n = new AtomicInteger();
            pool = Executors.newFixedThreadPool(threads - 1, r -> {
                Thread t = new Thread(r, "phalanx-cpu-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
    }

    /** A backend with its own {@code threads - 1} worker threads (the caller is the last one). */
    public static CpuBackend create(int threads, Kernels kernels) {
        return new CpuBackend(threads, kernels, BufferPool.create());
    }

    public static CpuBackend create(int threads) {
        return new CpuBackend(threads, Kernels.AUTO, BufferPool.create());
    }

    /**
     * The shared single-threaded backend: it has no threads; its oneDNN plans and buffers are
     * used under a lock, so threads that share it take turns in native calls.
     */
    public static CpuBackend serial() {
        return SerialHolder.SERIAL;
    }

    public Gemm gemm() {
        return gemm;
    }

    /** oneDNN's average pooling for this backend, or null where it is not used. */
    DnnlPool dnnlPool() {
        return dnnlPool;
    }

    /** oneDNN's convolutions for this backend, or null where they are not used. */
    DnnlConv dnnlConv() {
        return dnnlConv;
    }

    LaneScratch convScratch() {
        return convScratch;
    }

    WeightLayouts weightLayouts() {
        return weightLayouts;
    }

    /** This backend's pool of float arrays for op outputs (see {@link BufferPool}); the serial backend's keeps nothing. */
    public BufferPool buffers() {
        return buffers;
    }

    public int threads() {
        return threads;
    }

    /** One line for start-up reports: which kernels and how many threads, and why not native. */
    public String describe() {
        String convs = dnnlConv != null ? dnnlName + " convolutions and average pooling, " : "";
        String gemmName = gemm instanceof JavaGemm ? gemm.name() + " (scalar: java --add-modules " + JavaKernels.VECTOR_MODULE
                + " runs it on the Vector API)" : gemm.name();
        String s = "cpu backend: " + convs + gemmName + " GEMM, " + threads + (threads == 1 ? " thread" : " threads");
        return fallbackReason.isEmpty() ? s : s + " (native kernels not used: " + fallbackReason + ")";
    }

    /**
     * Below this much work (roughly floating-point operations) a parallel loop runs on the
     * caller alone: handing pieces to another thread and waiting for them costs tens of
     * microseconds, more than it saves (measured: batch-4 LeNet steps were slower on 2 threads
     * than on 1).
     */
    static final long MIN_PARALLEL_WORK = 4_000_000L;

    /**
     * Runs {@code body(i)} for i in [0, n), split into at most {@code threads} contiguous ranges,
     * or on the caller alone when {@code n * workPerItem} is small. Bodies must write disjoint
     * memory. Exceptions from any piece are rethrown here.
     */
    public void parallelFor(int n, long workPerItem, IntConsumer body) {
        parallelFor(partsFor(n, workPerItem), n, (part, i) -> body.accept(i));
    }

    /** As {@link #parallelFor(int, long, IntConsumer)}, always spreading the work. */
    public void parallelFor(int n, IntConsumer body) {
        parallelFor(Math.min(threads, n), n, (part, i) -> body.accept(i));
    }

    /** A loop body that is also told which part of the loop (0 .. parts-1) runs it, to pick its scratch. */
    @FunctionalInterface
    interface PartBody {
        void accept(int part, int i);
    }

    /** How many parts {@link #parallelForParts} splits such a loop into: part indices are below this. */
    int partsFor(int n, long workPerItem) {
        return (long) n * workPerItem < MIN_PARALLEL_WORK || pool == null ? 1 : Math.max(1, Math.min(threads, n));
    }

    /** As {@link #parallelFor(int, long, IntConsumer)}; part p runs one contiguous range of i, on one thread. */
    void parallelForParts(int n, long workPerItem, PartBody body) {
        parallelFor(partsFor(n, workPerItem), n, body);
    }

    private void parallelFor(int parts, int n, PartBody body) {
        if (n <= 0) return;
        if (parts == 1 || pool == null) {
            for (int i = 0; i < n; i++) body.accept(0, i);
            return;
        }
        List<Future<?>> futures = new ArrayList<>(parts - 1);
        int per = (n + parts - 1) / parts;
        for (int p = 1; p < parts; p++) {
            int from = p * per, to = Math.min(n, from + per), part = p;
            if (from >= to) break;
            futures.add(pool.submit(() -> {
                for (int i = from; i < to; i++) body.accept(part, i);
            }));
        }
        RuntimeException first = null;
        try {
            for (int i = 0, to = Math.min(n, per); i < to; i++) body.accept(0, i);
        } catch (RuntimeException e) {
            first = e;
        }
        for (Future<?> f : futures) {
            try {
                f.get();
            } catch (ExecutionException e) {
                if (first == null) {
                    first = e.getCause() instanceof RuntimeException re ? re : new RuntimeException(e.getCause());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                if (first == null) first = new IllegalStateException("interrupted while waiting for CPU workers", e);
            }
        }
        if (first != null) throw first;
    }

    @Override
    public String toString() {
        return describe();
    }

    @Override
    public void close() {
        if (dnnlConv != null) dnnlConv.close();
        if (dnnlPool != null) dnnlPool.close();
        if (pool != null) {
            pool.shutdownNow();
            try {
                pool.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
