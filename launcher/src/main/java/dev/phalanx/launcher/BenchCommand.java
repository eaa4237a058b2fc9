package dev.phalanx.launcher;

import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;

import dev.phalanx.bench.Benchmark;
import dev.phalanx.bench.ModelZoo;
import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.cpu.CpuBackend;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code phalanx bench}: images per second of a model, training or inference. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure training or inference throughput on synthetic batches, on the cpu or a device (--device).%n"
                + "The last line is 'throughput: N images/s'.")
final class BenchCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--model", defaultValue = "cifar-lenet", description = "cifar-lenet, fashion-lenet or cifar-wide (default: ${DEFAULT-VALUE})")
    String model;

    @Option(names = "--batch-size", defaultValue = "64", description = "images per step (default: ${DEFAULT-VALUE})")
    int batchSize;

    /** As PyTorch does: every core, or with --replicas the cores shared out between the replicas. */
    @Option(names = "--threads", description = "intra-op CPU threads (per replica with --replicas; default: the machine's cores, "
            + "divided between the replicas)")
    Integer threads;

    @Option(names = "--mode", defaultValue = "train", description = "train or infer (default: ${DEFAULT-VALUE})")
    Benchmark.Mode mode;

    @Option(names = "--seconds", defaultValue = "10", description = "timed seconds, after a warm-up (default: ${DEFAULT-VALUE})")
    double seconds;

    @Option(names = "--kernels", defaultValue = "auto", description = "auto, native or java (default: ${DEFAULT-VALUE})")
    CpuBackend.Kernels kernels;

    @Option(names = "--device", paramLabel = DeviceOption.LABEL, description = DeviceOption.DESCRIPTION)
    String device;

    @Option(names = "--replicas", defaultValue = "0",
            description = "train through the actor runtime with this many replicas of --threads threads each, and report the share "
                    + "of a step spent outside compute (default: 0, the model in this thread)")
    int replicas;

    @Option(names = "--cuda-graph", paramLabel = "on|off", defaultValue = "off",
            description = "on a device, training with one replica: also time the whole step captured into one graph and replayed "
                    + "(what train runs with runtime.cuda-graph on), against the eager steps (default: ${DEFAULT-VALUE})")
    TrainCommand.Switch cudaGraph;

    @Option(names = "--reproducible", description = "train in the reproducible mode (samples one by one, gradients along the sample tree)")
    boolean reproducible;

    @Override
    public Integer call() {
        // the first line stays the backend's (or the device's): the notes only where --device was given and the cpu is what came of it
        java.io.ByteArrayOutputStream noteBytes = new java.io.ByteArrayOutputStream();
        java.io.PrintStream notes = new java.io.PrintStream(noteBytes, true, java.nio.charset.StandardCharsets.UTF_8);
        DeviceOption.Outcome where = DeviceOption.choose(device, null, null, false, notes, System.err);
        if (where.exit() != null) return where.exit();
        Device on = where.device();
        if (batchSize < 1) throw new IllegalArgumentException("--batch-size must be >= 1, got " + batchSize);
        int cores = Runtime.getRuntime().availableProcessors();
        int threads = this.threads != null ? this.threads : Math.max(1, replicas > 0 ? cores / replicas : cores);
        if (threads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
        if (!(seconds > 0)) throw new IllegalArgumentException("--seconds must be > 0, got " + seconds);
        ModelZoo.Spec m = ModelZoo.get(model);
        PrintWriter out = spec.commandLine().getOut();
        if (device != null && on.isCpu()) out.print(noteBytes.toString(java.nio.charset.StandardCharsets.UTF_8));
        try (CpuBackend backend = CpuBackend.create(threads, kernels)) {
            out.println(on.isCpu() ? backend.describe() : "device: " + DeviceOption.describe(on) + "; host side: " + backend.describe());
            out.printf(Locale.ROOT, "model %s (%s), %s, batch %d, %s%n", m.name(), m.description(), mode.name().toLowerCase(Locale.ROOT), batchSize,
                    reproducible ? "reproducible mode" : "default mode");
            out.flush();
            if (replicas > 0 && mode != Benchmark.Mode.TRAIN) throw new IllegalArgumentException("--replicas measures training only; drop --mode infer");
            Benchmark.Result r = replicas > 0
                    ? Benchmark.runParallel(m, batchSize, where.choice().placement(replicas, true), threads, kernels, seconds, null, reproducible)
                    : Benchmark.run(m, mode, batchSize, backend, seconds, null, reproducible, on);
            out.printf(Locale.ROOT, "steps: %d, %.3f ms per step%n", r.steps(), r.msPerStep());
            if (r.splitMs() != null) {
                double[] s = r.splitMs();
                double wall = s[0] + s[1] + s[3];
                out.printf(Locale.ROOT, "%d replicas x %d threads; mean step %.3f ms: forward+backward %.3f ms (slowest replica), optimizer %.3f ms, "
                        + "all-reduce wait %.3f ms, outside compute (all-reduce, split, gather, messages) %.3f ms = %.1f %%%s%n",
                        replicas, threads, wall, s[0], s[1], s[2], s[3], 100 * s[3] / wall,
                        r.onDevice() ? " (on a device: the host's side of each, enqueuing, not the device's compute)" : "");
            }
            if (r.onDevice() && r.splitMs() == null) {
                // the host waits for the device every few steps: what is not enqueuing is the device's work (or the host waiting on it)
                out.printf(Locale.ROOT, "host enqueue: %.3f ms per step of %.3f ms (%.0f %%; the rest the host waits for %s, synchronising every %d steps)%n",
                        r.enqueueMsPerStep(), r.msPerStep(), 100 * r.enqueueMsPerStep() / r.msPerStep(), on, Benchmark.DEVICE_SYNC_EVERY);
                if (r.deviceSplit() != null) out.println(r.deviceSplit().describe(on.toString(), false));
            } else if (!r.onDevice()) {
                out.printf(Locale.ROOT, "compute CPU time (this thread and the backend's workers): %.0f images per CPU-second%n", r.imagesPerCpuSecond());
            }
            if (cudaGraph == TrainCommand.Switch.on) {
                if (on.isCpu() || mode != Benchmark.Mode.TRAIN || replicas > 0) {
                    throw new IllegalArgumentException("--cuda-graph on times training with one replica on a device (--device sim or cuda)");
                }
                Benchmark.Result g = Benchmark.runGraph(m, batchSize, backend, seconds, on);
                out.printf(Locale.ROOT, "CUDA graph (the step captured once, one replay per step): %.3f ms per step, host enqueue %.3f ms per step, "
                        + "%.0f images/s: %.2fx the eager steps' throughput%n", g.msPerStep(), g.enqueueMsPerStep(), g.imagesPerSecond(),
                        g.imagesPerSecond() / r.imagesPerSecond());
                if (g.deviceSplit() != null) out.println("CUDA graph " + g.deviceSplit().describe(on.toString(), true));
            }
            out.printf(Locale.ROOT, "throughput: %.0f images/s%n", r.imagesPerSecond());
        }
        return 0;
    }
}
