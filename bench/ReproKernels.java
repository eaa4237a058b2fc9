package dev.phalanx.bench;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import dev.phalanx.kernels.cpu.ConvGeometry;
import dev.phalanx.kernels.cpu.ConvKernels;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.kernels.cpu.SampleOrderedKernels;
import dev.phalanx.kernels.reduce.SampleTree;

/**
 * cifar-lenet's layers one kernel at a time, the default mode's kernel and the reproducible
 * mode's (issue #13) for each, one CPU thread, a batch as one shard: CPU time per call in
 * microseconds, the median of seven runs of many calls. Run with a heap touched in advance
 * (-XX:+AlwaysPreTouch -Xms2g -Xmx2g): fresh heap pages fault on first touch, a cost that a long
 * run does not pay and that would otherwise land on whichever kernel allocates first. The
 * reproducible weight gradients' pieces go back to the backend's pool after each call, as a
 * 1-replica step's {@code finishGradients} gives them back.
 *   javac -cp launcher/target/phalanx.jar -d /tmp/reprokernels bench/ReproKernels.java
 *   java -XX:+AlwaysPreTouch -Xms2g -Xmx2g -cp /tmp/reprokernels:launcher/target/phalanx.jar dev.phalanx.bench.ReproKernels BATCH
 */
public class ReproKernels {
    private static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();

    public static void main(String[] args) {
        int b = Integer.parseInt(args[0]);
        Random r = new Random(1);
        int reps = Math.max(20, 6400 / b);
        double totalDefault = 0, totalRepro = 0;
        List<SampleTree.Block> pieces = SampleTree.pieces(0, b, b);
        try (CpuBackend be = CpuBackend.create(1, CpuBackend.Kernels.AUTO)) {
            System.out.println(be.describe() + "; batch " + b + "; us of CPU per call");
            for (int[] fc : new int[][] {{400, 120}, {120, 84}, {84, 10}}) {
                int in = fc[0], out = fc[1];
                float[] x = random(r, b * in), w = random(r, out * in), bias = random(r, out), g = random(r, b * out);
                float[] y = new float[b * out], dx = new float[b * in], dw = new float[out * in];
                double df = time(() -> be.gemm().sgemm(false, true, b, out, in, x, 0, w, 0, y, 0, false), reps);
                double dd = time(() -> be.gemm().sgemm(false, false, b, in, out, g, 0, w, 0, dx, 0, false), reps);
                double dwt = time(() -> be.gemm().sgemm(true, false, out, in, b, g, 0, x, 0, dw, 0, false), reps);
                double rf = time(() -> SampleOrderedKernels.linearForward(be, b, in, out, x, w, 1, bias, y), reps);
                double rd = time(() -> SampleOrderedKernels.linearBackwardData(be, b, in, out, g, w, 1, dx), reps);
                double rw = time(() -> recycle(be, SampleOrderedKernels.linearWeight(be, in, out, g, x, pieces, 0)), reps);
                double rb = time(() -> SampleOrderedKernels.linearBias(be, out, g, pieces, 0), reps);
                System.out.printf("linear %d->%d: default forward %.0f, backward-data %.0f, weight %.0f | reproducible %.0f, %.0f, %.0f, bias %.0f%n",
                        in, out, df, dd, dwt, rf, rd, rw, rb);
                totalDefault += df + dd + dwt;
                totalRepro += rf + rd + rw + rb;
            }
            ConvGeometry[] convs = {new ConvGeometry(b, 3, 32, 32, 6, 5, 5, 1, 1, 0, 0), new ConvGeometry(b, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0)};
            for (int c = 0; c < convs.length; c++) {
                ConvGeometry cg = convs[c];
                boolean data = c > 0;                     // conv1's input needs no gradient in training
                float[] x = random(r, b * cg.inImage()), w = random(r, cg.cout() * cg.patch()), bias = random(r, cg.cout());
                float[] dout = random(r, b * cg.outImage());
                float[] y = new float[b * cg.outImage()], dx = new float[b * cg.inImage()], dw = new float[cg.cout() * cg.patch()], db = new float[cg.cout()];
                double df = time(() -> ConvKernels.forward(be, cg, x, w, bias, y), reps);
                double dd = data ? time(() -> ConvKernels.backwardData(be, cg, dout, w, dx), reps) : 0;
                double dwt = time(() -> ConvKernels.backwardWeight(be, cg, x, dout, dw, db), reps);
                double rf = time(() -> SampleOrderedKernels.convForward(be, cg, x, w, bias, y, 0, b), reps);
                double rd = data ? time(() -> SampleOrderedKernels.convBackwardData(be, cg, dout, w, dx, 0, b), reps) : 0;
                double rw = time(() -> recycle(be, SampleOrderedKernels.convWeight(be, cg, x, dout, true, true, 0, b).weight()), reps);
                System.out.printf("conv%d: default forward %.0f, backward-data %.0f, weight+bias %.0f | reproducible %.0f, %.0f, %.0f%n",
                        c + 1, df, dd, dwt, rf, rd, rw);
                totalDefault += df + dd + dwt;
                totalRepro += rf + rd + rw;
            }
        }
        System.out.printf("all: default %.0f, reproducible %.0f us (%.2fx)%n", totalDefault, totalRepro, totalRepro / totalDefault);
    }

    /** Gives a weight gradient's tree pieces back to the backend's pool, as 1 replica's {@code finishGradients} does every step. */
    private static void recycle(CpuBackend be, List<float[]> pieces) {
        for (float[] p : pieces) be.buffers().recycle(p);
    }

    private static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    /** us of this thread's CPU per call: the median of seven runs of {@code reps} calls, after as many to warm up. */
    private static double time(Runnable body, int reps) {
        for (int i = 0; i < reps; i++) body.run();
        double[] t = new double[7];
        for (int k = 0; k < t.length; k++) {
            long c0 = MX.getCurrentThreadCpuTime();
            for (int i = 0; i < reps; i++) body.run();
            t[k] = (MX.getCurrentThreadCpuTime() - c0) / 1e3 / reps;
        }
        Arrays.sort(t);
        return t[t.length / 2];
    }
}
