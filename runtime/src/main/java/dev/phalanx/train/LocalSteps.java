package dev.phalanx.train;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.Function;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.Module;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.parallel.Replica;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Tensor;

/** One replica in the calling thread: no actor hop per step, for the single-device case. */
final class LocalSteps implements StepRunner {

    private final Module model;
    private final Optimizer optimizer;
    private final BiFunction<Tensor, Tensor, Tensor> loss;
    private final CpuBackend backend;
    private final boolean reproducible;

    LocalSteps(Module model, Function<List<Tensor>, ? extends Optimizer> optimizer, BiFunction<Tensor, Tensor, Tensor> loss, CpuBackend backend,
               boolean reproducible) {
        this.reproducible = reproducible;
        this.model = model;
        this.optimizer = optimizer.apply(model.parameters());
        this.loss = loss;
        this.backend = backend;
    }

    @Override
    public Result step(Tensor inputs, Tensor labels) {
        try (var scope = Backends.use(backend)) {
            model.train();
            model.zeroGrad();
            int rows = inputs.size(0);
            // reproducible mode (#13): the one shard [0, B) of the batch, its gradients the sample tree's (as N replicas combine it)
            try (var repro = reproducible ? Reproducible.bind(0, rows, rows) : null) {
                Tensor out = model.forward(inputs);
                Tensor l = loss.apply(out, labels);
                l.backward();
                if (repro != null) repro.shard().finishGradients(model.parameters());
                optimizer.step();
                return new Result(l.item(), out.detach());
            }
        }
    }

    @Override
    public Tensor forward(Tensor inputs) {
        try (var scope = Backends.use(backend); var ng = GradMode.noGrad()) {
            return model.forward(inputs);
        }
    }

    @Override
    public Replica.Snapshot snapshot() {
        Map<String, Tensor> state = new LinkedHashMap<>();
        model.stateDict().forEach((k, v) -> state.put(k, v.detach().clone()));
        return new Replica.Snapshot(state, optimizer.stateDict());
    }

    @Override
    public void load(Replica.Snapshot state) {
        model.loadStateDict(state.model());
        optimizer.loadStateDict(state.optimizer());
    }

    @Override
    public String describe() {
        return "Using 1 replica on cpu (" + backend.describe() + ", " + Trainer.modeName(reproducible) + ")";
    }

    @Override
    public void close() {
        backend.close();
    }
}
