package dev.phalanx.kernels.cpu;

import java.util.HashMap;
import java.util.Map;

import org.bytedeco.dnnl.stream;

/**
 * Convolutions through oneDNN for one backend: its plans (primitives per shape), its streams
 * (one per lane of the backend's parallel loop) and its scratch, none of it shared with another
 * backend. The batch is cut into chunks whose boundaries depend only on the shapes, each chunk
 * one oneDNN call on one thread, so results do not depend on the thread count; weight gradients
 * are summed over chunks in chunk order. Calls are serialised on this object: a backend's
 * native state is used by one caller at a time (the shared serial backend may be reached from
 * several threads).
 */
final class DnnlConv implements AutoCloseable {

    /**
     * Work (about 2 x multiply-adds) per chunk: below it, one oneDNN call per chunk costs more in
     * fixed overhead than spreading it saves; the same figure as the backend's threshold for
     * running a loop on the caller alone.
     */
    static final long CHUNK_WORK = CpuBackend.MIN_PARALLEL_WORK;
    /** At most this many partial weight gradients are kept and summed per call. */
    static final int MAX_WEIGHT_CHUNKS = 8;

    private final OneDnn dnnl;
    private final CpuBackend backend;
    private final stream[] streams;
    private final Map<ConvGeometry, DnnlConvPlan> plans = new HashMap<>();
    private final Map<ConvGeometry, DnnlConvPlan> imagePlans = new HashMap<>();
    private float[] partials = new float[0];

    DnnlConv(OneDnn dnnl, CpuBackend backend) {
        this.dnnl = dnnl;
        this.backend = backend;
        this.streams = new stream[backend.threads()];
        for (int i = 0; i < streams.length; i++) streams[i] = new stream(dnnl.engine());
    }

    /** How a batch of n images is cut: k chunks, chunk c holding images [c*n/k, (c+1)*n/k). */
    record Chunks(int n, int k) {
        static Chunks of(int n, long workPerImage, int maxChunks) {
            long total = (long) n * workPerImage;
            int k = (int) Math.min(n, Math.max(1, (total + CHUNK_WORK - 1) / CHUNK_WORK));
            if (k > 1 && (k & 1) == 1 && k < n) k++; // an even count splits evenly over two threads
            return new Chunks(n, Math.min(k, maxChunks));
        }

        int from(int c) { return (int) ((long) c * n / k); }
        int size(int c) { return from(c + 1) - from(c); }
        int small() { return n / k; }
        boolean uneven() { return n % k != 0; }
    }

    /** The default mode's plan for chunks of {@code images} images (layouts as measured fastest: {@link DnnlConvPlan.Layouts#MEASURED}). */
    private DnnlConvPlan plan(ConvGeometry g, int images) {
        ConvGeometry key = new ConvGeometry(images, g.cin(), g.h(), g.w(), g.cout(), g.kh(), g.kw(), g.sh(), g.sw(), g.ph(), g.pw());
        return plans.computeIfAbsent(key, k -> new DnnlConvPlan(dnnl.engine(), k, DnnlConvPlan.Layouts.MEASURED, dnnl.avx512()));
    }

    /**
     * The reproducible mode's plan for chunks of {@code images} slots. Kept apart from the default
     * mode's plans (a chunk of slots is not a chunk of the batch; each plan's lanes hold their own
     * weights), with the same layout rule ({@link DnnlConvPlan.Layouts#MEASURED}): a rule of the
     * shape and the CPU only, so every shard of a batch gets the same primitive. With oneDNN's own
     * choice instead ({@code ANY}), conv2's one-image weight gradient ran on an AVX2 kernel at
     * half the speed on AVX-512 (13.0 against 7.1 us per image, BENCHMARKS.md).
     */
    private DnnlConvPlan reproduciblePlan(ConvGeometry g, int images) {
        ConvGeometry key = new ConvGeometry(images, g.cin(), g.h(), g.w(), g.cout(), g.kh(), g.kw(), g.sh(), g.sw(), g.ph(), g.pw());
        return imagePlans.computeIfAbsent(key, k -> new DnnlConvPlan(dnnl.engine(), k, DnnlConvPlan.Layouts.MEASURED, dnnl.avx512()));
    }

    /** The reproducible mode's one-image plan (weight gradients, each image alone). */
    private DnnlConvPlan imagePlan(ConvGeometry g) {
        return reproduciblePlan(g, 1);
    }

    private static long forwardWork(ConvGeometry g) {
        return 2L * g.cout() * g.patch() * g.outPlane();
    }

    synchronized void forward(ConvGeometry g, float[] x, float[] weight, float[] bias, float[] out) {
        dnnl.oneThreadHere();
        Chunks ch = Chunks.of(g.n(), forwardWork(g), Integer.MAX_VALUE);
        int lanes = backend.partsFor(ch.k(), CHUNK_WORK);
        DnnlConvPlan small = plan(g, ch.small()), large = ch.uneven() ? plan(g, ch.small() + 1) : small;
        small.prepareForward(streams[0], weight, bias, lanes);
        if (large != small) large.prepareForward(streams[0], weight, bias, lanes);
        backend.parallelForParts(ch.k(), CHUNK_WORK, (lane, c) -> {
            dnnl.oneThreadHere();
            (ch.size(c) == ch.small() ? small : large).forward(lane, streams[lane], x, out, ch.from(c));
        });
    }

    synchronized void backwardData(ConvGeometry g, float[] dout, float[] weight, float[] dx) {
        dnnl.oneThreadHere();
        Chunks ch = Chunks.of(g.n(), forwardWork(g), Integer.MAX_VALUE);
        int lanes = backend.partsFor(ch.k(), CHUNK_WORK);
        DnnlConvPlan small = plan(g, ch.small()), large = ch.uneven() ? plan(g, ch.small() + 1) : small;
        small.prepareBackwardData(streams[0], weight, lanes);
        if (large != small) large.prepareBackwardData(streams[0], weight, lanes);
        backend.parallelForParts(ch.k(), CHUNK_WORK, (lane, c) -> {
            dnnl.oneThreadHere();
            (ch.size(c) == ch.small() ? small : large).backwardData(lane, streams[lane], dout, dx, ch.from(c));
        });
    }

    synchronized void backwardWeight(ConvGeometry g, float[] x, float[] dout, float[] dweight, float[] dbias) {
        dnnl.oneThreadHere();
        Chunks ch = Chunks.of(g.n(), forwardWork(g), MAX_WEIGHT_CHUNKS);
        int lanes = backend.partsFor(ch.k(), CHUNK_WORK);
        DnnlConvPlan small = plan(g, ch.small()), large = ch.uneven() ? plan(g, ch.small() + 1) : small;
        small.prepareBackwardWeights(lanes);
        if (large != small) large.prepareBackwardWeights(lanes);
        int wsize = g.cout() * g.patch(), cout = g.cout();
        // chunk 0 writes straight into the caller's arrays; the others into partials, summed after in chunk order
        int need = (ch.k() - 1) * (wsize + cout);
        if (partials.length < need) partials = new float[need];
        float[] db0 = dbias != null ? dbias : new float[cout];
        float[] p = partials;
        backend.parallelForParts(ch.k(), CHUNK_WORK, (lane, c) -> {
            dnnl.oneThreadHere();
            DnnlConvPlan plan = ch.size(c) == ch.small() ? small : large;
            if (c == 0) {
                plan.backwardWeights(lane, streams[lane], x, dout, 0, dweight, 0, db0, 0);
            } else {
                int base = (c - 1) * (wsize + cout);
                plan.backwardWeights(lane, streams[lane], x, dout, ch.from(c), p, base, p, base + wsize);
            }
        });
        for (int c = 1; c < ch.k(); c++) {
            int base = (c - 1) * (wsize + cout);
            for (int i = 0; i < wsize; i++) dweight[i] += p[base + i];
            if (dbias != null) for (int i = 0; i < cout; i++) dbias[i] += p[base + wsize + i];
        }
    }

    // ---- the reproducible mode (issue #13): images in slots fixed by their global index ----

    /**
     * How a shard's images fall into the reproducible mode's chunks: global image i (the shard
     * holds {@code [first, first + n)}) sits in slot {@code i % slots} of chunk {@code i / slots},
     * whichever shard holds it; slots outside the shard are zeros. So an image always goes
     * through the same primitive (a chunk of {@code slots} images) in the same slot, however the
     * batch was cut.
     */
    record Slots(int first, int n, int slots) {
        int chunks() {
            return n == 0 ? 0 : (first + n - 1) / slots - first / slots + 1;
        }

        /** The shard's first image (local index) in chunk c of the shard. */
        int from(int c) {
            return Math.max(first, (first / slots + c) * slots) - first;
        }

        /** Its slot in the chunk. */
        int firstSlot(int c) {
            return (first + from(c)) % slots;
        }

        /** How many of the shard's images chunk c holds. */
        int count(int c) {
            int start = (first / slots + c) * slots;
            return Math.min(first + n, start + slots) - Math.max(first, start);
        }
    }

    /**
     * As {@link #forward}, but in the chunks of {@link Slots}: an image's bits depend on its own
     * values and slot only (convolutions do not mix images), never on how many images share the
     * shard. {@code first} is the global index of the shard's first image.
     */
    synchronized void forwardInSlots(ConvGeometry g, float[] x, float[] weight, float[] bias, float[] out, int first, int slots) {
        dnnl.oneThreadHere();
        Slots sl = new Slots(first, g.n(), slots);
        DnnlConvPlan chunk = reproduciblePlan(g, slots);
        long work = forwardWork(g) * slots;
        chunk.prepareForward(streams[0], weight, bias, backend.partsFor(sl.chunks(), work));
        backend.parallelForParts(sl.chunks(), work, (lane, c) -> {
            dnnl.oneThreadHere();
            chunk.forwardSlots(lane, streams[lane], x, out, sl.from(c), sl.firstSlot(c), sl.count(c));
        });
    }

    /** As {@link #backwardData}, in the chunks of {@link Slots} (as {@link #forwardInSlots}). */
    synchronized void backwardDataInSlots(ConvGeometry g, float[] dout, float[] weight, float[] dx, int first, int slots) {
        dnnl.oneThreadHere();
        Slots sl = new Slots(first, g.n(), slots);
        DnnlConvPlan chunk = reproduciblePlan(g, slots);
        long work = forwardWork(g) * slots;
        chunk.prepareBackwardData(streams[0], weight, backend.partsFor(sl.chunks(), work));
        backend.parallelForParts(sl.chunks(), work, (lane, c) -> {
            dnnl.oneThreadHere();
            chunk.backwardDataSlots(lane, streams[lane], dout, dx, sl.from(c), sl.firstSlot(c), sl.count(c));
        });
    }

    /**
     * The weight and bias gradients of images {@code [from, from + count)}, each image alone
     * through the one-image primitive: image {@code from + j}'s into {@code dw[j]} and {@code db[j]}.
     */
    synchronized void backwardWeightsEachImage(ConvGeometry g, float[] x, float[] dout, int from, int count, float[][] dw, float[][] db) {
        backwardWeightsEachImage(g, x, dout, from, count, dw, db, false);
    }

    /** The floats of one image's weight gradient in the one-image primitive's layout ({@link DnnlConvPlan#rawWeightFloats}). */
    synchronized int rawWeightFloats(ConvGeometry g) {
        dnnl.oneThreadHere();
        DnnlConvPlan one = imagePlan(g);
        one.prepareBackwardWeights(1);
        return one.rawWeightFloats();
    }

    /** A weight gradient in the one-image primitive's layout made plain (oihw): {@link DnnlConvPlan#weightsToPlain}. */
    synchronized void weightsToPlain(ConvGeometry g, float[] raw, float[] plain) {
        dnnl.oneThreadHere();
        DnnlConvPlan one = imagePlan(g);
        one.prepareBackwardWeights(1);
        one.weightsToPlain(0, streams[0], raw, plain);
    }

    /**
     * As above; with {@code raw}, the weight gradients stay in the primitive's layout
     * ({@link #rawWeightFloats} floats each; {@link #weightsToPlain} makes a sum of them plain).
     */
    synchronized void backwardWeightsEachImage(ConvGeometry g, float[] x, float[] dout, int from, int count, float[][] dw, float[][] db, boolean raw) {
        dnnl.oneThreadHere();
        DnnlConvPlan one = imagePlan(g);
        one.prepareBackwardWeights(backend.partsFor(count, forwardWork(g)));
        int parts = backend.partsFor(count, forwardWork(g)), per = (count + parts - 1) / parts;
        backend.parallelForParts(parts, CHUNK_WORK, (lane, p) -> {                          // part p: one range of images, on lane p
            dnnl.oneThreadHere();
            int a = p * per, n = Math.min(count, a + per) - a;
            if (n <= 0) return;
            float[][] dwPart = java.util.Arrays.copyOfRange(dw, a, a + n), dbPart = java.util.Arrays.copyOfRange(db, a, a + n);
            one.backwardWeightsEach(lane, streams[lane], x, dout, from + a, n, dwPart, dbPart, raw);
        });
    }

    @Override
    public synchronized void close() {
        for (DnnlConvPlan plan : plans.values()) plan.close();
        plans.clear();
        for (DnnlConvPlan plan : imagePlans.values()) plan.close();
        imagePlans.clear();
        for (stream s : streams) s.close();
    }
}
