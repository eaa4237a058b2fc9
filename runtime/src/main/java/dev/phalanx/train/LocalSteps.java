package dev.phalanx.train;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import java.util.function.Function;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.DeviceContexts;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.Module;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.parallel.Replica;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Tensor;

/**
 * One replica in the calling thread: no actor hop per step, for the single-device case. On a device
 * ({@code cuda:N}, {@code sim:N}) the model and optimizer state live there; snapshots come back as
 * host copies (checkpoints are written from them). A step on a device is enqueued and returns
 * without waiting for it (issue #9, items 1 and 5): its batch goes up through two pinned buffers
 * on the copy stream ({@link BatchUploads}), its loss stays in device memory until the trainer
 * reads it, once per log interval ({@link DeviceLosses}), and, with the CUDA graph on, every full
 * batch after the first two is one replay of the captured step ({@link StepGraph}); the last,
 * smaller batch of an epoch runs eagerly.
 */
final class LocalSteps implements StepRunner {

    private final Module model;
    private final Optimizer optimizer;
    private final BiFunction<Tensor, Tensor, Tensor> loss;
    private final CpuBackend backend;
    private final boolean reproducible;
    private final Device device;
    private final Consumer<String> notes;
    private DeviceLosses losses;
    private BatchUploads uploads;
    private StepGraph graph;
    /** Why the step is not captured (null while it may be): the start-up line and a note when it turns off mid-run. */
    private String graphOff;
    private long steps;
    private int replays;

    LocalSteps(Module model, Function<List<Tensor>, ? extends Optimizer> optimizer, BiFunction<Tensor, Tensor, Tensor> loss, CpuBackend backend,
               boolean reproducible) {
        this(model, optimizer, loss, backend, reproducible, Device.CPU, false, s -> { });
    }

    LocalSteps(Module model, Function<List<Tensor>, ? extends Optimizer> optimizer, BiFunction<Tensor, Tensor, Tensor> loss, CpuBackend backend,
               boolean reproducible, Device device) {
        this(model, optimizer, loss, backend, reproducible, device, false, s -> { });
    }

    /**
     * {@code cudaGraph}: capture the step on a device that can ({@code runtime.cuda-graph}); never
     * on the cpu. {@code notes} gets one line if capture turns off during the run.
     */
    LocalSteps(Module model, Function<List<Tensor>, ? extends Optimizer> optimizer, BiFunction<Tensor, Tensor, Tensor> loss, CpuBackend backend,
               boolean reproducible, Device device, boolean cudaGraph, Consumer<String> notes) {
        this.reproducible = reproducible;
        this.device = device;
        this.model = model;
        model.to(device);
        this.optimizer = optimizer.apply(model.parameters());
        this.loss = loss;
        this.backend = backend;
        this.notes = notes;
        this.graphOff = device.isCpu() ? "the cpu" : !cudaGraph ? "off (--cuda-graph off)" : StepGraph.whyNotCapturable(this.optimizer);
    }

    @Override
    public Result step(Tensor inputs, Tensor labels) {
        steps++;
        if (device.isCpu()) {
            Tensor[] lo = enqueue(inputs, labels);
            return new Result(lo[0].item(), lo[1]);
        }
        if (!BatchUploads.fits(inputs, labels)) return eager(onDevice(inputs), onDevice(labels));
        BatchUploads.OnDevice up = uploads().upload(inputs, labels);
        if (graphOff == null && graph == null) {
            graph = new StepGraph(context(), inputs.size(0), java.util.Arrays.copyOfRange(inputs.shape(), 1, inputs.dim()));
        }
        if (graphOff != null || !graph.takes(inputs)) { // the last, smaller batch, or no graph
            Result r = eager(up.inputs(), up.labels());
            uploads.consumed();
            return r;
        }
        graph.load(up.inputs(), up.labels());
        uploads.consumed(); // the slot was copied into the graph's buffers: the next batch may go there
        if (!graph.warmedUp()) return graph.warmUp(() -> eager(graph.inputs(), graph.labels()));
        if (!graph.captured()) {
            try {
                graph.capture(() -> enqueue(graph.inputs(), graph.labels())[0], used());
            } catch (RuntimeException e) {
                Tensor x = graph.inputs(), y = graph.labels(); // this batch, loaded there; they outlive the graph's close
                turnGraphOff("off: the step could not be captured (" + e.getMessage() + ")");
                return eager(x, y);
            }
        }
        graph.replay();
        replays++;
        return deviceLosses().record(graph.loss(), null); // a replay overwrites its logits: none kept
    }

    /** One step enqueued: zero the gradients, forward, loss, backward, update. Returns the loss and the detached logits. */
    private Tensor[] enqueue(Tensor x, Tensor y) {
        try (var scope = Backends.use(backend)) {
            model.train();
            model.zeroGrad();
            int rows = x.size(0);
            // reproducible mode (#13): the one shard [0, B) of the batch, its gradients the sample tree's (as N replicas combine it)
            try (var repro = reproducible ? Reproducible.bind(0, rows, rows) : null) {
                Tensor out = model.forward(onDevice(x));
                Tensor l = loss.apply(out, onDevice(y));
                l.backward();
                if (repro != null) repro.shard().finishGradients(model.parameters());
                optimizer.step();
                return new Tensor[] {l, out.detach()};
            }
        }
    }

    /** An eager step on a device: its loss is read when the trainer asks, with no host synchronisation here. */
    private Result eager(Tensor x, Tensor y) {
        Tensor[] lo = enqueue(x, y);
        return deviceLosses().record(lo[0], lo[1]);
    }

    /**
     * What the captured kernels use that was made before the capture: parameters, their gradients, buffers, the
     * optimizer's state and its learning rate in device memory.
     */
    private List<Tensor> used() {
        List<Tensor> out = new ArrayList<>(model.stateDict().values());
        for (Tensor p : model.parameters()) if (p.grad() != null) out.add(p.grad());
        out.addAll(optimizer.stateTensors());
        return out;
    }

    private void turnGraphOff(String why) {
        graphOff = why;
        if (graph != null) {
            graph.close();
            graph = null;
        }
        notes.accept("CUDA graph " + why);
    }

    private DeviceContext context() {
        return DeviceContexts.of(device);
    }

    private DeviceLosses deviceLosses() {
        if (losses == null) losses = new DeviceLosses(context());
        return losses;
    }

    private BatchUploads uploads() {
        if (uploads == null) uploads = new BatchUploads(context());
        return uploads;
    }

    /** How many times the losses were read back from the device (tests: one per log interval). */
    int deviceLossReads() {
        return losses == null ? 0 : losses.reads();
    }

    /** How many pinned host buffers the batches go through (tests: two, kept across steps). */
    int pinnedBuffers() {
        return uploads == null ? 0 : BatchUploads.SLOTS;
    }

    /** The test that leaves out the step's wait for its batch on purpose passes false. */
    void waitForUploads(boolean wait) {
        uploads().waitForUploads = wait;
    }

    /** How many steps were replays of the captured graph. */
    int replays() {
        return replays;
    }

    /** Whether the CUDA graph is on, or why not. */
    String graphState() {
        return graphOff == null ? "on" : graphOff;
    }

    Optimizer optimizer() {
        return optimizer;
    }

    @Override
    public Tensor forward(Tensor inputs) {
        try (var scope = Backends.use(backend); var ng = GradMode.noGrad()) {
            return toHost(model.forward(onDevice(inputs)));
        }
    }

    @Override
    public Replica.Snapshot snapshot() {
        Map<String, Tensor> state = new LinkedHashMap<>();
        model.stateDict().forEach((k, v) -> state.put(k, hostCopy(v)));
        Map<String, Tensor> optimizerState = new LinkedHashMap<>();
        optimizer.stateDict().forEach((k, v) -> optimizerState.put(k, hostCopy(v)));
        return new Replica.Snapshot(state, optimizerState);
    }

    private Tensor onDevice(Tensor t) {
        return device.isCpu() || t.device().equals(device) ? t : t.to(device);
    }

    private static Tensor toHost(Tensor t) {
        return t.device().isCpu() ? t : t.to(Device.CPU);
    }

    private static Tensor hostCopy(Tensor t) {
        Tensor d = t.detach();
        return d.device().isCpu() ? d.clone() : d.to(Device.CPU);
    }

    @Override
    public void load(Replica.Snapshot state) {
        model.loadStateDict(state.model());
        optimizer.loadStateDict(state.optimizer()); // new state tensors: a graph captured before would update the old ones
        if (graph != null) {
            graph.close();
            graph = null;
        }
    }

    @Override
    public String describe() {
        String where = device.isCpu() ? backend.describe() + ", " : "";
        String graphLine = device.isCpu() ? "" : "; CUDA graph " + graphState();
        return "Using 1 replica on " + device + " (" + where + Trainer.modeName(reproducible) + graphLine + ")";
    }

    @Override
    public void close() {
        if (graph != null) graph.close();
        if (uploads != null) uploads.close();
        backend.close();
    }
}
