package dev.phalanx.data;

import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * Mini-batches from a data set, like {@code torch.utils.data.DataLoader}: batch size, shuffle
 * with a seed, drop-last, and background threads that assemble the next batches while the
 * current step computes. The order of epoch e depends only on (seed, e), so an epoch can be
 * resumed at any batch and give what an uninterrupted run would have.
 */
public final class DataLoader implements AutoCloseable {

    private final Dataset dataset;
    private final int batchSize;
    private final boolean shuffle, dropLast;
    private final long seed;
    private final int prefetch;
    private final ExecutorService workers; // null: batches are assembled on the caller's thread

    public DataLoader(Dataset dataset, int batchSize, boolean shuffle, long seed, boolean dropLast, int workers, int prefetch) {
        if (batchSize < 1) throw new IllegalArgumentException("batch_size should be a positive integer value, but got batch_size=" + batchSize);
        if (workers < 0 || prefetch < 1) throw new IllegalArgumentException("workers must be >= 0 and prefetch >= 1, got " + workers + ", " + prefetch);
        if (dataset.size() == 0) throw new IllegalArgumentException("the data set is empty");
        this.dataset = dataset;
        this.batchSize = batchSize;
        this.shuffle = shuffle;
        this.seed = seed;
        this.dropLast = dropLast;
        this.prefetch = prefetch;
        if (workers == 0) {
            this.workers = null;
        } else {
            AtomicInteger n = new AtomicInteger();
            this.workers = Executors.newFixedThreadPool(workers, r -> {
                Thread t = new Thread(r, "phalanx-loader-" + n.incrementAndGet());
                t.setDaemon(true);
                return t;
            });
        }
    }

    /**
     * Named settings instead of seven positional arguments:
     * {@code DataLoader.builder(trainset).batchSize(4).shuffle(true).seed(0).workers(2).build()}.
     * Defaults: batch size 1, no shuffle, seed 0, keep the last short batch, one worker, two batches prefetched.
     */
    public static Builder builder(Dataset dataset) {
        return new Builder(dataset);
    }

    /** The settings of a {@link DataLoader}, each with its default. */
    public static final class Builder {
        private static final int DEFAULT_WORKERS = 1, DEFAULT_PREFETCH = 2;
        private final Dataset dataset;
        private int batchSize = 1;
        private boolean shuffle, dropLast;
        private long seed;
        private int workers = DEFAULT_WORKERS, prefetch = DEFAULT_PREFETCH;

        private Builder(Dataset dataset) {
            this.dataset = dataset;
        }

        public Builder batchSize(int batchSize) { this.batchSize = batchSize; return this; }
        public Builder shuffle(boolean shuffle) { this.shuffle = shuffle; return this; }
        /** The shuffle seed: the order of epoch e depends only on (seed, e). */
        public Builder seed(long seed) { this.seed = seed; return this; }
        public Builder dropLast(boolean dropLast) { this.dropLast = dropLast; return this; }
        /** Background threads assembling batches; 0 assembles them on the caller's thread. */
        public Builder workers(int workers) { this.workers = workers; return this; }
        /** Batches assembled ahead of the one being used. */
        public Builder prefetch(int prefetch) { this.prefetch = prefetch; return this; }

        public DataLoader build() {
            return new DataLoader(dataset, batchSize, shuffle, seed, dropLast, workers, prefetch);
        }
    }

    /** Batch size, no shuffle, one background worker. */
    public DataLoader(Dataset dataset, int batchSize) {
        this(dataset, batchSize, false, 0, false, 1, 2);
    }

    public Dataset dataset() {
        return dataset;
    }

    public int batchSize() {
        return batchSize;
    }

    public int batchesPerEpoch() {
        int n = dataset.size();
        return dropLast ? n / batchSize : (n + batchSize - 1) / batchSize;
    }

    /** The example order of epoch {@code epoch} (0-based). */
    public int[] order(int epoch) {
        int n = dataset.size();
        if (!shuffle) {
            int[] o = new int[n];
            for (int i = 0; i < n; i++) o[i] = i;
            return o;
        }
        return new Generator(seed * 1_000_003L + epoch).permutation(n);
    }

    /** The batches of one epoch, starting at batch {@code startBatch} (to resume). */
    public Epoch epoch(int epoch, int startBatch) {
        return new Epoch(order(epoch), startBatch);
    }

    public Epoch epoch(int epoch) {
        return epoch(epoch, 0);
    }

    private Batch assemble(int[] order, int b) {
        int from = b * batchSize, to = Math.min(order.length, from + batchSize);
        Example first = dataset.get(order[from]);
        int[] shape = first.input().shape();
        int each = first.input().numel();
        float[] inputs = new float[(to - from) * each];
        long[] labels = new long[to - from];
        for (int i = from; i < to; i++) {
            Example e = i == from ? first : dataset.get(order[i]);
            if (e.input().numel() != each) {
                throw new IllegalStateException("example " + order[i] + " has " + e.input().numel() + " values, the batch's first has " + each);
            }
            System.arraycopy(e.input().contiguousFloats(), 0, inputs, (i - from) * each, each);
            labels[i - from] = e.label();
        }
        int[] batchShape = new int[shape.length + 1];
        batchShape[0] = to - from;
        System.arraycopy(shape, 0, batchShape, 1, shape.length);
        return new Batch(Tensor.of(inputs, batchShape), Tensor.ofLongs(labels, to - from), b);
    }

    /** One pass over the data; closing it stops the prefetching of batches not taken. */
    public final class Epoch implements Iterator<Batch>, Iterable<Batch>, AutoCloseable {
        private final int[] order;
        private final int end;
        private int next, submitted;
        private final ArrayDeque<Future<Batch>> ahead = new ArrayDeque<>();

        private Epoch(int[] order, int start) {
            this.order = order;
            this.end = batchesPerEpoch();
            if (start < 0 || start > end) throw new IllegalArgumentException("cannot start an epoch of " + end + " batches at batch " + start);
            this.next = start;
            this.submitted = start;
            fill();
        }

        private void fill() {
            if (workers == null) return;
            while (submitted < end && ahead.size() < prefetch) {
                int b = submitted++;
                ahead.add(workers.submit(() -> assemble(order, b)));
            }
        }

        @Override
        public boolean hasNext() {
            return next < end;
        }

        @Override
        public Batch next() {
            if (!hasNext()) throw new NoSuchElementException();
            if (workers == null) return assemble(order, next++);
            try {
                Batch b = ahead.poll().get();
                next++;
                fill();
                return b;
            } catch (ExecutionException e) {
                throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for a batch", e);
            }
        }

        @Override
        public Iterator<Batch> iterator() {
            return this;
        }

        @Override
        public void close() {
            for (Future<Batch> f : ahead) f.cancel(true);
            ahead.clear();
        }
    }

    @Override
    public void close() {
        if (workers != null) workers.shutdownNow();
    }
}
