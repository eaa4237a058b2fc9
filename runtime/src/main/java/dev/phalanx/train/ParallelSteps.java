package dev.phalanx.train;

import java.util.concurrent.CompletionException;

import dev.phalanx.parallel.Coordinator;
import dev.phalanx.parallel.DataParallel;
import dev.phalanx.parallel.Replica;
import dev.phalanx.tensor.Tensor;

/** Replicas through the actor runtime: its own actor system, or a coordinator spawned in the caller's. */
public final class ParallelSteps implements StepRunner {

    private final DataParallel dp;
    private final String backend;

    public ParallelSteps(DataParallel dp, String backend) {
        this.dp = dp;
        this.backend = backend;
    }

    @Override
    public Result step(Tensor inputs, Tensor labels) {
        try {
            Coordinator.StepOutcome o = dp.stepWithOutputs(inputs, labels).toCompletableFuture().join();
            return new Result(o.loss(), o.outputs());
        } catch (CompletionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : new IllegalStateException(e.getCause());
        }
    }

    @Override
    public Tensor forward(Tensor inputs) {
        return dp.forward(inputs);
    }

    @Override
    public Replica.Snapshot snapshot() {
        return dp.snapshot();
    }

    @Override
    public void load(Replica.Snapshot state) {
        dp.load(state);
    }

    @Override
    public String describe() {
        java.util.List<dev.phalanx.kernels.Device> devices = dp.devices();
        boolean allCpu = devices.stream().allMatch(dev.phalanx.kernels.Device::isCpu);
        if (allCpu) return "Using " + dp.replicas() + " replicas on cpu (each: " + backend + ")";
        String where = new java.util.LinkedHashSet<>(devices).stream().map(Object::toString).collect(java.util.stream.Collectors.joining(", "));
        return "Using " + dp.replicas() + " replicas on " + where + " (each on its own stream; gradients " + dp.reduction() + ")";
    }

    @Override
    public void close() {
        dp.close();
    }
}
