package dev.phalanx.parallel;

import java.time.Duration;
import java.util.List;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Supplier;

import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.Module;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.tensor.Tensor;

/**
 * What every replica is built from: a model factory (each replica owns its copy; replica 0's
 * parameters are broadcast to the others, so the factory need not be deterministic), an
 * optimizer factory, the loss (mean over the rows it is given), CPU threads per replica, the
 * gradient bucket size, how long a replica waits for the all-reduce, test hooks, whether the
 * reproducible mode (issue #13: bitwise the same for every replica count) is on, and whether the
 * replicas sharing one device capture their whole step into one CUDA graph ({@link DeviceStepGraph}).
 */
public record ReplicaSpec(Supplier<? extends Module> model,
                          Function<List<Tensor>, ? extends Optimizer> optimizer,
                          BiFunction<Tensor, Tensor, Tensor> loss,
                          int threads,
                          CpuBackend.Kernels kernels,
                          int bucketCapFloats,
                          Duration reduceTimeout,
                          ReplicaFaults faults,
                          boolean reproducible,
                          boolean cudaGraph) {

    /** Without the CUDA graph. */
    public ReplicaSpec(Supplier<? extends Module> model, Function<List<Tensor>, ? extends Optimizer> optimizer,
                       BiFunction<Tensor, Tensor, Tensor> loss, int threads, CpuBackend.Kernels kernels, int bucketCapFloats,
                       Duration reduceTimeout, ReplicaFaults faults, boolean reproducible) {
        this(model, optimizer, loss, threads, kernels, bucketCapFloats, reduceTimeout, faults, reproducible, false);
    }

    public ReplicaSpec {
        if (threads < 1) throw new IllegalArgumentException("threads per replica must be >= 1, got " + threads);
        if (bucketCapFloats < 1) throw new IllegalArgumentException("bucket size must be >= 1 float, got " + bucketCapFloats);
        if (faults == null) faults = ReplicaFaults.NONE;
    }
}
