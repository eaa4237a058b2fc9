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

    /** The reproducible mode's one-image plan: oneDNN's own layouts, kept apart from the default mode's plans. */
    private DnnlConvPlan imagePlan(ConvGeometry g) {
        ConvGeometry key = new ConvGeometry(1, g.cin(), g.h(), g.w(), g.cout(), g.kh(), g.kw(), g.sh(), g.sw(), g.ph(), g.pw());
        return imagePlans.computeIfAbsent(key, k -> new DnnlConvPlan(dnnl.engine(), k, DnnlConvPlan.Layouts.ANY, dnnl.avx512()));
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

    // ---- the reproducible mode (issue #13): each image alone, through the one-image plan ----

    /**
     * As {@link #forward}, but every image through the same one-image primitive: an image's
     * bits then depend on its own values only, never on how many images share the call.
     */
    synchronized void forwardEachImage(ConvGeometry g, float[] x, float[] weight, float[] bias, float[] out) {
        dnnl.oneThreadHere();
        DnnlConvPlan one = imagePlan(g);
        int lanes = backend.partsFor(g.n(), forwardWork(g));
        one.prepareForward(streams[0], weight, bias, lanes);
        backend.parallelForParts(g.n(), forwardWork(g), (lane, img) -> {
            dnnl.oneThreadHere();
            one.forward(lane, streams[lane], x, out, img);
        });
    }

    /** As {@link #backwardData}, every image through the one-image primitive. */
    synchronized void backwardDataEachImage(ConvGeometry g, float[] dout, float[] weight, float[] dx) {
        dnnl.oneThreadHere();
        DnnlConvPlan one = imagePlan(g);
        int lanes = backend.partsFor(g.n(), forwardWork(g));
        one.prepareBackwardData(streams[0], weight, lanes);
        backend.parallelForParts(g.n(), forwardWork(g), (lane, img) -> {
            dnnl.oneThreadHere();
            one.backwardData(lane, streams[lane], dout, dx, img);
        });
    }

    /**
     * The weight and bias gradients of images {@code [from, from + count)}, each image alone
     * through the one-image primitive: image {@code from + j}'s into {@code dw[j]} and {@code db[j]}.
     */
    synchronized void backwardWeightsEachImage(ConvGeometry g, float[] x, float[] dout, int from, int count, float[][] dw, float[][] db) {
        dnnl.oneThreadHere();
        DnnlConvPlan one = imagePlan(g);
        one.prepareBackwardWeights(backend.partsFor(count, forwardWork(g)));
        backend.parallelForParts(count, forwardWork(g), (lane, j) -> {
            dnnl.oneThreadHere();
            one.backwardWeights(lane, streams[lane], x, dout, from + j, dw[j], 0, db[j], 0);
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
