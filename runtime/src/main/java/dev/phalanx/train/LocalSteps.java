package dev.phalanx.train;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Function;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.Module;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.parallel.Replica;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Tensor;

/**
 * One replica in the calling thread: no actor hop per step, for the single-device case. On a device
 * ({@code cuda:N}, {@code sim:N}) the model and optimizer state live there and each batch is copied
 * up through two pinned buffers on the copy stream ({@link BatchUploads}); snapshots come back as host copies (checkpoints are written from them). A step on a device
 * returns without waiting for it: its loss stays in device memory ({@link DeviceLosses}) until the
 * trainer reads it, once per log interval, and its logits until asked for.
 */
final class LocalSteps implements StepRunner {

    private final Module model;
    private final Optimizer optimizer;
    private final BiFunction<Tensor, Tensor, Tensor> loss;
    private final CpuBackend backend;
    private final boolean reproducible;
    private final Device device;
    private DeviceLosses losses;
    private BatchUploads uploads;

    LocalSteps(Module model, Function<List<Tensor>, ? extends Optimizer> optimizer, BiFunction<Tensor, Tensor, Tensor> loss, CpuBackend backend,
               boolean reproducible) {
        this(model, optimizer, loss, backend, reproducible, Device.CPU);
    }

    LocalSteps(Module model, Function<List<Tensor>, ? extends Optimizer> optimizer, BiFunction<Tensor, Tensor, Tensor> loss, CpuBackend backend,
               boolean reproducible, Device device) {
        this.reproducible = reproducible;
        this.device = device;
        this.model = model;
        model.to(device);
        this.optimizer = optimizer.apply(model.parameters());
        this.loss = loss;
        this.backend = backend;
    }

    @Override
    public Result step(Tensor inputs, Tensor labels) {
        if (device.isCpu() || !BatchUploads.fits(inputs, labels)) return step(inputs, labels, false);
        BatchUploads.OnDevice up = uploads().upload(inputs, labels); // on the copy stream; the step's stream waits for it
        Result r = step(up.inputs(), up.labels(), true);
        uploads.consumed();
        return r;
    }

    private Result step(Tensor inputs, Tensor labels, boolean uploaded) {
        try (var scope = Backends.use(backend)) {
            model.train();
            model.zeroGrad();
            int rows = inputs.size(0);
            // reproducible mode (#13): the one shard [0, B) of the batch, its gradients the sample tree's (as N replicas combine it)
            try (var repro = reproducible ? Reproducible.bind(0, rows, rows) : null) {
                Tensor out = model.forward(uploaded ? inputs : onDevice(inputs));
                Tensor l = loss.apply(out, uploaded ? labels : onDevice(labels));
                l.backward();
                if (repro != null) repro.shard().finishGradients(model.parameters());
                optimizer.step();
                if (device.isCpu()) return new Result(l.item(), out.detach());
                return deviceLosses().record(l, out.detach()); // read when the trainer asks: no host synchronisation here

            }
        }
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

    /** The device's loss slots, made at the first step. */
    private DeviceLosses deviceLosses() {
        if (losses == null) losses = new DeviceLosses(dev.phalanx.kernels.DeviceContexts.of(device));
        return losses;
    }

    private BatchUploads uploads() {
        if (uploads == null) uploads = new BatchUploads(dev.phalanx.kernels.DeviceContexts.of(device));
        return uploads;
    }

    /** How many pinned host buffers the batches go through (tests: two, kept across steps). */
    int pinnedBuffers() {
        return uploads == null ? 0 : BatchUploads.SLOTS;
    }

    /** The test that leaves out the step's wait for its batch on purpose passes false. */
    void waitForUploads(boolean wait) {
        uploads().waitForUploads = wait;
    }

    /** How many times the losses were read back from the device (tests: one per log interval). */
    int deviceLossReads() {
        return losses == null ? 0 : losses.reads();
    }

    private Tensor onDevice(Tensor t) {
        return device.isCpu() ? t : t.to(device);
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
        optimizer.loadStateDict(state.optimizer());
    }

    @Override
    public String describe() {
        return "Using 1 replica on " + device + " (" + (device.isCpu() ? backend.describe() + ", " : "") + Trainer.modeName(reproducible) + ")";
    }

    @Override
    public void close() {
        if (uploads != null) uploads.close();
        backend.close();
    }
}
