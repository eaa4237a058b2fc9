package dev.phalanx.bench;

import java.io.PrintStream;
import java.util.Locale;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Reproducible;
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
     * this thread it is the whole of the compute, with one intra-op thread or more.
     */
    public record Result(double imagesPerSecond, double msPerStep, int steps, double[] splitMs, double imagesPerCpuSecond) { }

    private Benchmark() { }

    /**
     * Runs {@code step} for a warm-up (a third of the time, at least a second), then for five
     * windows; the throughput is the median window's. {@code timings} sees what each timed step
     * returned; {@code split}, if given, is summed there and divided by the number of steps.
     */
    private static <T> Result timed(int batch, double seconds, PrintStream log, java.util.function.Supplier<T> step,
                                    java.util.function.Consumer<T> timings, double[] split) {
        long warmEnd = System.nanoTime() + (long) (Math.max(1.0, seconds / 3) * 1e9);
        int warm = 0;
        while (System.nanoTime() < warmEnd || warm < 3) {
            step.get();
            warm++;
        }
        int windows = 5;
        double[] rates = new double[windows];
        int total = 0;
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        long cpuStart = computeCpuNanos(mx);
        for (int w = 0; w < windows; w++) {
            long start = System.nanoTime(), end = start + (long) (seconds / windows * 1e9);
            int n = 0;
            long now;
            do {
                T t = step.get();
                if (timings != null) timings.accept(t);
                n++;
                now = System.nanoTime();
            } while (now < end);
            rates[w] = n * (double) batch / ((now - start) / 1e9);
            total += n;
            if (log != null) log.printf(Locale.ROOT, "window %d: %d steps, %.0f images/s%n", w + 1, n, rates[w]);
        }
        long cpu = computeCpuNanos(mx) - cpuStart;
        if (split != null) for (int i = 0; i < split.length; i++) split[i] /= total;
        java.util.Arrays.sort(rates);
        double median = rates[windows / 2];
        return new Result(median, 1000.0 * batch / median, total, split, cpu > 0 ? (double) total * batch / (cpu / 1e9) : Double.NaN);
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
        Generator gen = new Generator(0);
        Tensor x = Tensor.randn(gen, batch, spec.channels(), spec.size(), spec.size());
        Tensor y = Tensor.randint(gen, 0, spec.classes(), batch);
        try (dev.phalanx.parallel.DataParallel dp = dev.phalanx.parallel.DataParallel.builder(() -> spec.build(new Generator(0)))
                .replicas(replicas).threadsPerReplica(threads).kernels(kernels).optimizer(p -> new SGD(p, 0.001f, 0.9f))
                .checksumEvery(0).reproducible(reproducible).build()) {
            double[] split = new double[4];
            return timed(batch, seconds, log, () -> dp.stepWithOutputs(x, y).toCompletableFuture().join().timing(), t -> {
                split[0] += t.computeNanos() / 1e6;
                split[1] += t.optimizerNanos() / 1e6;
                split[2] += t.reduceWaitNanos() / 1e6;
                split[3] += t.outsideComputeNanos() / 1e6;
            }, split);
        }
    }

    public static Result run(ModelZoo.Spec spec, Mode mode, int batch, CpuBackend backend, double seconds, PrintStream log) {
        return run(spec, mode, batch, backend, seconds, log, false);
    }

    /** As above; with {@code reproducible}, training runs in the reproducible mode of issue #13 (the batch as one shard). */
    public static Result run(ModelZoo.Spec spec, Mode mode, int batch, CpuBackend backend, double seconds, PrintStream log, boolean reproducible) {
        Generator gen = new Generator(0);
        Module model = spec.build(gen);
        Tensor x = Tensor.randn(gen, batch, spec.channels(), spec.size(), spec.size());
        Tensor y = Tensor.randint(gen, 0, spec.classes(), batch);
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
            return timed(batch, seconds, log, () -> {
                step.run();
                return null;
            }, null, null);
        }
    }
}
