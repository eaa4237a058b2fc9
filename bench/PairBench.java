package dev.phalanx.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;

import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.nn.Module;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * The default and the reproducible mode's training steps of {@code phalanx bench} (cifar-lenet, the
 * same model, data and optimizer), interleaved in one JVM: rounds of about {@code ms} milliseconds
 * of each mode in turn, which goes first alternating, and the compute CPU time per step (this
 * thread and the backend's workers, as the bench counts it), so that both modes see the same
 * load, which on a machine shared with builds moves by a factor of two between runs. Prints each
 * mode's median ms of CPU per step, the ratio of those, and the median and quartiles of the
 * rounds' ratios. Not the bench itself: the two modes share one JIT (a call site both reach may
 * compile worse than in a JVM of one mode), so use it to compare builds, and the bench
 * ({@code bench/repro-cost.sh}) for the cost.
 *   javac -cp launcher/target/phalanx.jar -d /tmp/pairbench bench/PairBench.java
 *   java -cp /tmp/pairbench:launcher/target/phalanx.jar dev.phalanx.bench.PairBench BATCH THREADS ROUNDS [MS]
 */
public class PairBench {
    public static void main(String[] args) {
        int batch = Integer.parseInt(args[0]), threads = Integer.parseInt(args[1]), rounds = Integer.parseInt(args[2]);
        double ms = args.length > 3 ? Double.parseDouble(args[3]) : 1000;
        ModelZoo.Spec spec = ModelZoo.get("cifar-lenet");
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        try (CpuBackend backend = CpuBackend.create(threads, CpuBackend.Kernels.AUTO); var scope = Backends.use(backend)) {
            Runnable[] steps = new Runnable[2];
            for (int m = 0; m < 2; m++) {
                boolean reproducible = m == 1;
                Generator gen = new Generator(0);
                Module model = spec.build(gen);
                Tensor x = Tensor.randn(gen, batch, spec.channels(), spec.size(), spec.size());
                Tensor y = Tensor.randint(gen, 0, spec.classes(), batch);
                SGD opt = new SGD(model.parameters(), 0.001f, 0.9f);
                steps[m] = () -> {
                    opt.zeroGrad();
                    try (var repro = reproducible ? Reproducible.bind(0, batch, batch) : null) {
                        F.crossEntropy(model.forward(x), y).backward();
                        if (repro != null) repro.shard().finishGradients(model.parameters());
                    }
                    opt.step();
                };
            }
            for (int w = 0; w < 3; w++) for (Runnable s : steps) run(s, mx, 1000);       // warm-up
            double[][] perStep = new double[2][rounds];
            for (int r = 0; r < rounds; r++) {
                int first = r % 2;                                                       // alternate which mode goes first
                for (int k = 0; k < 2; k++) {
                    int m = (first + k) % 2;
                    perStep[m][r] = run(steps[m], mx, ms);
                }
            }
            double[] ratios = new double[rounds];
            for (int r = 0; r < rounds; r++) ratios[r] = perStep[1][r] / perStep[0][r];
            for (double[] a : perStep) Arrays.sort(a);
            Arrays.sort(ratios);
            System.out.printf("batch %d, %d threads, %d rounds: default %.3f ms CPU/step, reproducible %.3f, ratio of medians %.3f, median of round ratios %.3f (IQR %.3f-%.3f)%n",
                    batch, threads, rounds, perStep[0][rounds / 2], perStep[1][rounds / 2], perStep[1][rounds / 2] / perStep[0][rounds / 2],
                    ratios[rounds / 2], ratios[rounds / 4], ratios[3 * rounds / 4]);
        }
    }

    /** Runs steps for about ms milliseconds of wall time; returns ms of compute CPU per step. */
    private static double run(Runnable step, ThreadMXBean mx, double ms) {
        long end = System.nanoTime() + (long) (ms * 1e6);
        long cpu0 = cpu(mx);
        int n = 0;
        do {
            step.run();
            n++;
        } while (System.nanoTime() < end || n < 2);
        return (cpu(mx) - cpu0) / 1e6 / n;
    }

    private static long cpu(ThreadMXBean mx) {
        long sum = mx.getCurrentThreadCpuTime();
        for (java.lang.management.ThreadInfo t : mx.getThreadInfo(mx.getAllThreadIds())) {
            if (t != null && t.getThreadName().startsWith("phalanx-cpu-")) sum += Math.max(0, mx.getThreadCpuTime(t.getThreadId()));
        }
        return sum;
    }
}
