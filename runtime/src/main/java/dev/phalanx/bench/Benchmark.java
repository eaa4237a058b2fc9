package dev.phalanx.bench;

import java.io.PrintStream;
import java.util.Locale;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.nn.Module;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * Training or inference throughput of a model on synthetic batches, after a warm-up that lets
 * the JIT compile the hot loops. Training uses the blitz's SGD (lr 0.001, momentum 0.9) and
 * cross entropy. The figure is the median of several timed windows.
 */
public final class Benchmark {

    public enum Mode { TRAIN, INFER }

    /**
     * Throughput; for data-parallel runs also the mean step split (ms): compute, optimizer,
     * all-reduce wait, outside compute. {@code imagesPerCpuSecond} counts the CPU time of the
     * calling thread and of the CPU backends' worker threads ({@code phalanx-cpu-*}) over the
     * timed windows: on a shared machine it is steadier than the wall clock, and in a run in
     * this thread it is the whole of the compute, with one intra-op thread or more. On a device
     * ({@code cuda:N}, {@code sim:N}) the steps are enqueued and the host waits for the device every
     * {@link #DEVICE_SYNC_EVERY} steps: {@code enqueueMsPerStep} is the host's time spent enqueuing a
     * step (the rest of the step it waits for the device; NaN on the cpu), and the CPU time counts the
     * host's side only. {@code deviceSplit}: where a training step's time goes by the device's clock
     * (the batch's copy up, the compute), measured with timing events after the timed windows; null
     * on the cpu, for inference and for several replicas.
     */
    public record Result(double imagesPerSecond, double msPerStep, int steps, double[] splitMs, double imagesPerCpuSecond, double enqueueMsPerStep,
                         DeviceStepSplit deviceSplit) {

        /** A run on the cpu: no enqueue time apart from the compute. */
        public Result(double imagesPerSecond, double msPerStep, int steps, double[] splitMs, double imagesPerCpuSecond) {
            this(imagesPerSecond, msPerStep, steps, splitMs, imagesPerCpuSecond, Double.NaN, null);
        }

        /** The same result with the device's split of a step. */
        Result withDeviceSplit(DeviceStepSplit split) {
            return new Result(imagesPerSecond, msPerStep, steps, splitMs, imagesPerCpuSecond, enqueueMsPerStep, split);
        }

        /** Whether the steps ran on a device, where {@link #enqueueMsPerStep} says how much of a step the host spent enqueuing it. */
        public boolean onDevice() {
            return !Double.isNaN(enqueueMsPerStep);
        }
    }

    /**
     * On a device, the host synchronises with it after this many steps (and reads the clock then),
     * as {@code bench/pytorch_bench.py} does with {@code torch.cuda.synchronize()}: a step is only
     * enqueued, and a wait per step would time the host's round trip instead of the device's work.
     */
    public static final int DEVICE_SYNC_EVERY = 8;

    private Benchmark() { }

    /**
     * Runs {@code step} for a warm-up (a third of the time, at least a second), then for five
     * windows; the throughput is the median window's. {@code timings} sees what each timed step
     * returned; {@code split}, if given, is summed there and divided by the number of steps.
     * {@code sync} is null on the cpu (the clock is read after every step); on a device it waits
     * for the device, after the warm-up and every {@link #DEVICE_SYNC_EVERY} steps, and the clock is
     * read only then, so that a window times the device's work, not how far the host ran ahead.
     */
    private static <T> Result timed(int batch, double seconds, PrintStream log, java.util.function.Supplier<T> step,
                                    java.util.function.Consumer<T> timings, double[] split, Runnable sync) {
        int every = sync == null ? 1 : DEVICE_SYNC_EVERY;
        long warmEnd = System.nanoTime() + (long) (Math.max(1.0, seconds / 3) * 1e9);
        int warm = 0;
        while (System.nanoTime() < warmEnd || warm < 3) {
            step.get();
            warm++;
            if (sync != null && warm % every == 0) sync.run(); // the host never runs more than a few steps ahead
        }
        if (sync != null) sync.run();
        int windows = 5;
        double[] rates = new double[windows];
        int total = 0;
        long enqueue = 0;
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        long cpuStart = computeCpuNanos(mx);
        for (int w = 0; w < windows; w++) {
            long start = System.nanoTime(), end = start + (long) (seconds / windows * 1e9);
            int n = 0;
            long now = start;
            while (true) {
                long before = System.nanoTime();
                T t = step.get();
                enqueue += System.nanoTime() - before;
                if (timings != null) timings.accept(t);
                n++;
                if (n % every == 0) {
                    if (sync != null) sync.run();
                    now = System.nanoTime();
                    if (now >= end) break;
                }
            }
            rates[w] = n * (double) batch / ((now - start) / 1e9);
            total += n;
            if (log != null) log.printf(Locale.ROOT, "window %d: %d steps, %.0f images/s%n", w + 1, n, rates[w]);
        }
        long cpu = computeCpuNanos(mx) - cpuStart;
        if (split != null) for (int i = 0; i < split.length; i++) split[i] /= total;
        java.util.Arrays.sort(rates);
        double median = rates[windows / 2];
        return new Result(median, 1000.0 * batch / median, total, split, cpu > 0 ? (double) total * batch / (cpu / 1e9) : Double.NaN,
                sync == null ? Double.NaN : enqueue / 1e6 / total, null);
    }

    /** What waits for the devices a run's replicas are on; null when they are all on the cpu. */
    private static Runnable synchronizer(java.util.Collection<Device> devices) {
        java.util.List<Device> on = devices.stream().filter(d -> !d.isCpu()).distinct().toList();
        return on.isEmpty() ? null : () -> on.forEach(Cuda::synchronize);
    }

    /** CPU time so far of this thread and of the CPU backends' worker threads (the compute of a run in this thread). */
    private static long computeCpuNanos(java.lang.management.ThreadMXBean mx) {
        long sum = mx.getCurrentThreadCpuTime();
        for (java.lang.management.ThreadInfo t : mx.getThreadInfo(mx.getAllThreadIds())) {
            if (t != null && t.getThreadName().startsWith("phalanx-cpu-")) sum += Math.max(0, mx.getThreadCpuTime(t.getThreadId()));
        }
        return sum;
    }

    /** Training through the actor runtime: {@code replicas} replicas of {@code threads} threads each. */
    public static Result runParallel(ModelZoo.Spec spec, int batch, int replicas, int threads, CpuBackend.Kernels kernels, double seconds,
                                     PrintStream log) {
        return runParallel(spec, batch, replicas, threads, kernels, seconds, log, false);
    }

    /** As above, in the reproducible mode of issue #13 when {@code reproducible}. */
    public static Result runParallel(ModelZoo.Spec spec, int batch, int replicas, int threads, CpuBackend.Kernels kernels, double seconds,
                                     PrintStream log, boolean reproducible) {
        return runParallel(spec, batch, java.util.Collections.nCopies(replicas, Device.CPU), threads, kernels, seconds, log, reproducible);
    }

    /**
     * As above, one replica per entry of {@code devices} ({@code cpu}, {@code cuda:N}, {@code sim:N};
     * several on one device each on its own stream). The batches are host tensors, as the trainer's
     * are: each replica copies its rows up. On a device the step split counts the host's side
     * (enqueuing, not the device's compute).
     */
    public static Result runParallel(ModelZoo.Spec spec, int batch, java.util.List<Device> devices, int threads, CpuBackend.Kernels kernels,
                                     double seconds, PrintStream log, boolean reproducible) {
        Generator gen = new Generator(0);
        Tensor x = Tensor.randn(gen, batch, spec.channels(), spec.size(), spec.size());
        Tensor y = Tensor.randint(gen, 0, spec.classes(), batch);
        try (dev.phalanx.parallel.DataParallel dp = dev.phalanx.parallel.DataParallel.builder(() -> spec.build(new Generator(0)))
                .devices(devices).threadsPerReplica(threads).kernels(kernels).optimizer(p -> new SGD(p, 0.001f, 0.9f))
                .checksumEvery(0).reproducible(reproducible).build()) {
            double[] split = new double[4];
            return timed(batch, seconds, log, () -> dp.stepWithOutputs(x, y).toCompletableFuture().join().timing(), t -> {
                split[0] += t.computeNanos() / 1e6;
                split[1] += t.optimizerNanos() / 1e6;
                split[2] += t.reduceWaitNanos() / 1e6;
                split[3] += t.outsideComputeNanos() / 1e6;
            }, split, synchronizer(devices));
        }
    }

    public static Result run(ModelZoo.Spec spec, Mode mode, int batch, CpuBackend backend, double seconds, PrintStream log) {
        return run(spec, mode, batch, backend, seconds, log, false);
    }

    /** As above; with {@code reproducible}, training runs in the reproducible mode of issue #13 (the batch as one shard). */
    public static Result run(ModelZoo.Spec spec, Mode mode, int batch, CpuBackend backend, double seconds, PrintStream log, boolean reproducible) {
        return run(spec, mode, batch, backend, seconds, log, reproducible, Device.CPU);
    }

    /**
     * Training on {@code device} with the whole step captured into one graph
     * ({@link dev.phalanx.train.StepGraph}, what {@code phalanx train} runs there with
     * {@code runtime.cuda-graph} on): one eager warm-up step, the capture, then one replay per step,
     * timed as {@link #run} times the eager steps.
     */
    public static Result runGraph(ModelZoo.Spec spec, int batch, CpuBackend backend, double seconds, Device device) {
        if (device.isCpu()) throw new IllegalArgumentException("the cpu has no graph capture: bench a device (--device sim or cuda)");
        Generator gen = new Generator(0);
        Module model = spec.build(gen);
        Tensor hostX = Tensor.randn(gen, batch, spec.channels(), spec.size(), spec.size());
        Tensor hostY = Tensor.randint(gen, 0, spec.classes(), batch);
        model.to(device);
        SGD opt = new SGD(model.parameters(), 0.001f, 0.9f);
        try (var scope = Backends.use(backend);
             dev.phalanx.train.StepGraph graph = new dev.phalanx.train.StepGraph(dev.phalanx.kernels.DeviceContexts.of(device), batch,
                     new int[] {spec.channels(), spec.size(), spec.size()})) {
            graph.load(hostX.to(device), hostY.to(device)); // the same batch every step: loaded once
            java.util.function.Supplier<Tensor> step = () -> {
                opt.zeroGrad();
                Tensor l = F.crossEntropy(model.forward(graph.inputs()), graph.labels());
                l.backward();
                opt.step();
                return l;
            };
            graph.warmUp(step);
            java.util.List<Tensor> used = new java.util.ArrayList<>(model.stateDict().values());
            for (Tensor p : model.parameters()) if (p.grad() != null) used.add(p.grad());
            used.addAll(opt.stateTensors()); // the lr and any optimizer state made by the warm-up: on the step's stream before the capture
            graph.capture(step, used);
            Result r = timed(batch, seconds, null, () -> {
                graph.replay();
                return null;
            }, null, null, synchronizer(java.util.List.of(device)));
            // the replay launches the whole step at once: its compute span is the kernels' time, without launch gaps
            return r.withDeviceSplit(DeviceStepSplit.measure(dev.phalanx.kernels.DeviceContexts.of(device), hostX, hostY, graph.inputs(),
                    graph.labels(), graph::replay));
        }
    }

    /**
     * As above, on {@code device}: the model, its optimizer state and the synthetic batch live there
     * (as {@code bench/pytorch_bench.py --device cuda} keeps its batch on the GPU), the steps are
     * enqueued on the device's stream and the host waits for it every {@link #DEVICE_SYNC_EVERY}
     * steps. The reproducible mode runs on the cpu only.
     */
    public static Result run(ModelZoo.Spec spec, Mode mode, int batch, CpuBackend backend, double seconds, PrintStream log, boolean reproducible,
                             Device device) {
        if (reproducible && !device.isCpu()) {
            throw new IllegalArgumentException("the reproducible mode runs on the cpu only (its sample-by-sample kernels have no " + device
                    + " version): bench with --device cpu, or without --reproducible");
        }
        Generator gen = new Generator(0);
        Module model = spec.build(gen);
        Tensor hostX = Tensor.randn(gen, batch, spec.channels(), spec.size(), spec.size());
        Tensor hostY = Tensor.randint(gen, 0, spec.classes(), batch);
        if (!device.isCpu()) model.to(device); // parameters move in place: the optimizer below holds the device tensors
        Tensor x = device.isCpu() ? hostX : hostX.to(device), y = device.isCpu() ? hostY : hostY.to(device);
        SGD opt = new SGD(model.parameters(), 0.001f, 0.9f);
        Runnable step = mode == Mode.TRAIN ? () -> {
            opt.zeroGrad();
            try (var repro = reproducible ? Reproducible.bind(0, batch, batch) : null) {
                F.crossEntropy(model.forward(x), y).backward();
                if (repro != null) repro.shard().finishGradients(model.parameters());
            }
            opt.step();
        } : () -> {
            try (var scope = GradMode.noGrad()) {
                model.forward(x);
            }
        };
        try (var scope = Backends.use(backend)) {
            Result r = timed(batch, seconds, log, () -> {
                step.run();
                return null;
            }, null, null, synchronizer(java.util.List.of(device)));
            if (device.isCpu() || mode != Mode.TRAIN) return r;
            return r.withDeviceSplit(DeviceStepSplit.measure(dev.phalanx.kernels.DeviceContexts.of(device), hostX, hostY, x, y, step));
        }
    }
}
