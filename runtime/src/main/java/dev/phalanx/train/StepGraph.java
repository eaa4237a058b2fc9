package dev.phalanx.train;

import java.util.List;
import java.util.function.Supplier;

import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.device.CachingAllocator;
import dev.phalanx.kernels.device.DeviceApi;
import dev.phalanx.kernels.device.Graph;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Tensor;

/**
 * A whole training step (forward, backward, optimizer update) of one replica on a device,
 * captured once into one graph and replayed for every full batch (issue #9, item 5): small models
 * are launch-bound on a GPU, and a replay is one launch. The graph reads its batch from fixed
 * device buffers ({@link #load} copies each uploaded batch there, outside the graph) and writes
 * its loss into a tensor each replay overwrites. The first full batch runs eagerly as a warm-up
 * (the convolution algorithm searches, the optimizer's state buffers, the allocator's request
 * sizes, {@link CachingAllocator#startTrace}); the second is captured, with the allocator serving
 * the capture from a private pool set aside from the warm-up's sizes
 * ({@link CachingAllocator#beginCapture}), and replayed; every later one is replayed. What the
 * host computes per step cannot change inside a replay, so the step keeps its per-step values in
 * device memory: the optimizers' learning rate (which {@code Optimizer.setLr} writes there, outside
 * the graph) and step counts (advanced by the graph's own kernels), dropout's generator offset.
 */
public final class StepGraph implements AutoCloseable {

    private final DeviceContext context;
    private final DeviceApi api;
    private final int rows;
    private final Tensor inputs;
    private final Tensor labels;
    private List<Long> warmUpSizes;
    private Graph graph;
    private CachingAllocator.GraphPool pool;
    private Tensor loss;
    /** What the graph writes that outlives it and may be read back: ordered after each replay on the step's stream. */
    private List<Tensor> written = List.of();

    /**
     * Why a step with this optimizer cannot be replayed from one capture, or null: what the host
     * computes per step would be frozen into the graph. SGD, Adam, AdamW and RMSprop read the
     * learning rate and their step counts in device memory and advance the counts there, and
     * dropout draws from its generator's state in device memory, so none of them is a reason. The
     * rule of one replica's graph ({@code LocalSteps}) and of the replicas' ({@code DeviceStepGraph}).
     */
    public static String whyNotCapturable(Optimizer optimizer) {
        if (!optimizer.capturable()) {
            return "off: " + optimizer.getClass().getSimpleName() + " computes per-step values on the host, and a replay would repeat one "
                    + "step's (SGD, Adam, AdamW and RMSprop are captured)";
        }
        return null;
    }

    /** Fixed buffers for batches of {@code rows} rows of float32 samples of {@code sample}'s shape, and int64 labels. */
    public StepGraph(DeviceContext context, int rows, int[] sample) {
        this.context = context;
        this.api = context.api();
        this.rows = rows;
        int[] shape = new int[sample.length + 1];
        shape[0] = rows;
        System.arraycopy(sample, 0, shape, 1, sample.length);
        this.inputs = DeviceTensors.empty(context, DType.FLOAT32, shape);
        this.labels = DeviceTensors.empty(context, DType.INT64, rows);
    }

    /** Whether a batch is one the graph takes: the full batch's rows and sample shape. */
    public boolean takes(Tensor batchInputs) {
        if (batchInputs.dim() != inputs.dim()) return false;
        for (int d = 0; d < inputs.dim(); d++) if (batchInputs.size(d) != inputs.size(d)) return false;
        return true;
    }

    /** Copies a batch already on the device into the graph's fixed buffers, on the step's stream (outside the graph). */
    public void load(Tensor batchInputs, Tensor batchLabels) {
        Stream s = context.stream();
        api.copyDeviceToDevice(DeviceTensors.buffer(batchInputs, s), DeviceTensors.buffer(inputs, s), (long) inputs.numel() * Float.BYTES, s);
        api.copyDeviceToDevice(DeviceTensors.buffer(batchLabels, s), DeviceTensors.buffer(labels, s), (long) rows * Long.BYTES, s);
    }

    public Tensor inputs() {
        return inputs;
    }

    public Tensor labels() {
        return labels;
    }

    public boolean warmedUp() {
        return warmUpSizes != null;
    }

    public boolean captured() {
        return graph != null;
    }

    /** Runs the eager warm-up step, recording the sizes it asks the allocator for on the step's stream. */
    public <T> T warmUp(Supplier<T> step) {
        CachingAllocator allocator = context.allocator();
        allocator.startTrace(context.stream());
        try {
            return step.get();
        } finally {
            warmUpSizes = allocator.stopTrace();
        }
    }

    /**
     * Captures {@code step} (which enqueues one whole step on the current stream and returns its
     * loss). Everything in {@code used} is ordered on the step's
     * stream first, so that the capture waits for nothing outside it. On failure nothing is
     * captured, the pool is given back, and the error is rethrown.
     */
    public void capture(Supplier<Tensor> step, Iterable<Tensor> used) {
        Stream s = context.stream();
        for (Tensor t : used) DeviceTensors.buffer(t, s); // a read-back on the copy stream left some there: back on s, eagerly
        CachingAllocator allocator = context.allocator();
        pool = allocator.beginCapture(s, warmUpSizes);
        boolean capturing = false;
        try {
            api.beginCapture(s);
            capturing = true;
            Tensor l = step.get();
            capturing = false;
            graph = api.endCapture(s);
            loss = l;
            written = new java.util.ArrayList<>();
            for (Tensor t : used) written.add(t);
        } catch (RuntimeException e) {
            if (capturing) api.endCapture(s).close();
            allocator.endCapture();
            pool.close();
            pool = null;
            throw e;
        }
        allocator.endCapture();
    }

    /** Enqueues the captured step on the step's stream; its batch must be {@linkplain #load loaded} first. */
    public void replay() {
        Stream s = context.stream();
        // and before: what was written or read elsewhere since (a checkpoint's read-back on the copy stream, setLr's fill
        // from another stream) is finished before the replay reads or overwrites it
        for (Tensor t : written) DeviceTensors.buffer(t, s);
        api.replay(graph, s);
        // a read-back since the capture (a checkpoint) left these on the copy stream, which the replay does not order:
        // marked as last used on the step's stream, the next read-back waits for the replay
        for (Tensor t : written) DeviceTensors.buffer(t, s);
        DeviceTensors.buffer(loss, s);
    }

    /** The loss the last replay wrote (overwritten by the next). */
    public Tensor loss() {
        return loss;
    }

    /** Bytes of the graph's private pool. */
    public long poolBytes() {
        return pool == null ? 0 : pool.bytes();
    }

    /** Closes the graph and gives its pool back, after the replays enqueued so far have run. */
    @Override
    public void close() {
        if (graph != null) {
            api.synchronize(context.stream());
            graph.close();
            graph = null;
        }
        if (pool != null) {
            pool.close();
            pool = null;
        }
        loss = null;
        written = List.of();
    }
}
