package dev.phalanx.kernels.device;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * A two-layer perceptron (6 -> 5 -> ReLU -> 3, cross entropy, SGD with momentum) trained on the
 * device by N replicas that share it, each on its own stream, splitting every batch as
 * torch.chunk does and all-reducing their gradients in replica order: the device-level form of
 * the N-replica invariant. Every buffer is allocated once, so a step can be captured as a graph.
 */
final class TinyMlp implements AutoCloseable {

    static final int IN = 6, HIDDEN = 5, CLASSES = 3;
    static final int PARAMS = HIDDEN * IN + HIDDEN + CLASSES * HIDDEN + CLASSES;

    private final DeviceOps ops;
    private final DeviceApi device;
    private final List<Stream> streams;
    private final int batch;
    private final int[] rows;
    private final List<Replica> replicas = new ArrayList<>();
    private final ReplicaOrderAllReduce allReduce;
    private int updates;
    private final float[] init;

    private final class Replica {
        final Stream stream;
        final int rows;
        final DeviceBuffer p, g, m, lr, x, t, h, a, logits, lp, rowLoss, loss, dlogits, da, dh;

        Replica(Stream stream, int rows, float[] init) {
            this.stream = stream;
            this.rows = rows;
            int r = Math.max(rows, 1);
            p = DeviceTransfers.of(ops, stream, init);
            g = ops.floats(PARAMS, stream);
            m = ops.floats(PARAMS, stream);
            device.fillZero(m, stream);
            lr = DeviceTransfers.of(ops, stream, new float[] {0.1f}); // sgd_step reads its learning rate in device memory
            x = ops.floats((long) r * IN, stream);
            t = ops.allocator().allocate((long) r * Long.BYTES, stream);
            h = ops.floats((long) r * HIDDEN, stream);
            a = ops.floats((long) r * HIDDEN, stream);
            logits = ops.floats((long) r * CLASSES, stream);
            lp = ops.floats((long) r * CLASSES, stream);
            rowLoss = ops.floats(r, stream);
            loss = ops.floats(1, stream);
            dlogits = ops.floats((long) r * CLASSES, stream);
            da = ops.floats((long) r * HIDDEN, stream);
            dh = ops.floats((long) r * HIDDEN, stream);
        }

        DeviceBuffer w1() { return p.floats(0, HIDDEN * IN); }
        DeviceBuffer b1() { return p.floats(HIDDEN * IN, HIDDEN); }
        DeviceBuffer w2() { return p.floats(HIDDEN * IN + HIDDEN, CLASSES * HIDDEN); }
        DeviceBuffer b2() { return p.floats(HIDDEN * IN + HIDDEN + CLASSES * HIDDEN, CLASSES); }
        DeviceBuffer dw1() { return g.floats(0, HIDDEN * IN); }
        DeviceBuffer db1() { return g.floats(HIDDEN * IN, HIDDEN); }
        DeviceBuffer dw2() { return g.floats(HIDDEN * IN + HIDDEN, CLASSES * HIDDEN); }
        DeviceBuffer db2() { return g.floats(HIDDEN * IN + HIDDEN + CLASSES * HIDDEN, CLASSES); }

        void compute() {
            int r = rows;
            float weight = (float) r / batch;
            ops.linearForward(stream, r, IN, HIDDEN, x, w1(), b1(), h);
            ops.reluForward(stream, (long) r * HIDDEN, h, a);
            ops.linearForward(stream, r, HIDDEN, CLASSES, a, w2(), b2(), logits);
            ops.crossEntropyForward(stream, r, CLASSES, logits, t, lp, rowLoss, loss, weight);
            ops.crossEntropyBackward(stream, r, CLASSES, lp, t, dlogits, weight);
            ops.linearBackward(stream, r, HIDDEN, CLASSES, a, w2(), dlogits, da, dw2(), db2());
            ops.reluBackward(stream, (long) r * HIDDEN, a, da, dh);
            ops.linearBackward(stream, r, IN, HIDDEN, x, w1(), dh, null, dw1(), db1());
        }
    }

    TinyMlp(DeviceOps ops, List<Stream> streams, int batch, long seed) {
        this.ops = ops;
        this.device = ops.device();
        this.streams = streams;
        this.batch = batch;
        int n = streams.size(), chunk = (batch + n - 1) / n;
        rows = new int[n];
        for (int i = 0; i < n; i++) rows[i] = Math.max(0, Math.min(chunk, batch - i * chunk));
        for (int i = 0; i < n; i++) {
            if (rows[i] == 0) throw new IllegalArgumentException("this test model needs every replica to get rows");
        }
        Random r = new Random(seed);
        init = new float[PARAMS];
        for (int i = 0; i < PARAMS; i++) init[i] = (float) (r.nextGaussian() * 0.5);
        for (int i = 0; i < n; i++) replicas.add(new Replica(streams.get(i), rows[i], init));
        allReduce = new ReplicaOrderAllReduce(device, n);
    }

    /** Batch {@code step}'s rows, copied into each replica's input buffers. */
    void loadBatch(int step) {
        Random r = new Random(1000 + step);
        float[] x = new float[batch * IN];
        long[] t = new long[batch];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < batch; i++) t[i] = r.nextInt(CLASSES);
        int from = 0;
        for (Replica rep : replicas) {
            float[] xs = java.util.Arrays.copyOfRange(x, from * IN, (from + rep.rows) * IN);
            long[] ts = java.util.Arrays.copyOfRange(t, from, from + rep.rows);
            DeviceTransfers.upload(device, rep.stream, xs, rep.x);
            DeviceTransfers.upload(device, rep.stream, ts, rep.t);
            from += rep.rows;
        }
    }

    void compute(int unused) {
        for (Replica rep : replicas) rep.compute();
    }

    void reduceAndUpdate() {
        List<DeviceBuffer> grads = new ArrayList<>();
        for (Replica rep : replicas) grads.add(rep.g);
        allReduce.allReduceSum(grads, streams);
        boolean first = updates++ == 0;
        for (Replica rep : replicas) ops.sgdStep(rep.stream, PARAMS, rep.p, rep.g, rep.m, rep.lr, 0.9f, 0f, 0f, false, first);
    }

    void step(int step) {
        loadBatch(step);
        compute(step);
        reduceAndUpdate();
    }

    float[] initialParameters() {
        return init.clone();
    }

    float[] parameters(int replica) {
        Replica rep = replicas.get(replica);
        return DeviceTransfers.download(device, rep.stream, rep.p, PARAMS);
    }

    @Override
    public void close() {
        for (Stream s : streams) device.synchronize(s);
        allReduce.close();
    }
}
