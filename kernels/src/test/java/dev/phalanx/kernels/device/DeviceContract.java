package dev.phalanx.kernels.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.cpu.ConvGeometry;
import dev.phalanx.kernels.cpu.ConvKernels;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.kernels.cpu.PoolGeometry;
import dev.phalanx.kernels.cpu.PoolKernels;

/**
 * What every {@link DeviceApi} must do, checked against the CPU: copies, GEMM, convolutions,
 * each of Phalanx's kernels, events between streams, graph replay giving the eager bits, the
 * caching allocator's steady state, and 1, 2 and 3 replicas on one device training to the same
 * parameters. Run on the simulated device in {@code mvn test}, and on a GPU by the gpu-tagged
 * subclass in the cuda package, unchanged.
 */
public abstract class DeviceContract {

    /** Relative tolerance against the CPU (DESIGN.md: 1e-4 on a GPU). */
    protected static final float TOLERANCE = 1e-4f;

    protected DeviceApi device;
    protected DeviceOps ops;
    protected Stream stream;

    protected abstract DeviceApi open();

    @BeforeEach
    void setUp() {
        device = open();
        ops = new DeviceOps(device);
        stream = device.newStream();
    }

    @AfterEach
    void tearDown() {
        if (device != null) device.close();
    }

    protected static float[] random(Random r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float) r.nextGaussian();
        return a;
    }

    protected static void assertClose(float[] expected, float[] actual, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        float scale = 0f;
        for (float e : expected) scale = Math.max(scale, Math.abs(e));
        for (int i = 0; i < expected.length; i++) {
            float tol = TOLERANCE * Math.max(1f, scale);
            assertTrue(Math.abs(expected[i] - actual[i]) <= tol || (Float.isNaN(expected[i]) && Float.isNaN(actual[i])),
                    what + ": element " + i + " expected " + expected[i] + " got " + actual[i]);
        }
    }

    protected static float maxDifference(float[] a, float[] b) {
        float d = 0f;
        for (int i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
        return d;
    }

    protected DeviceBuffer put(float[] a) {
        return DeviceTransfers.of(ops, stream, a);
    }

    protected DeviceBuffer putLongs(long[] a) {
        DeviceBuffer b = ops.allocator().allocate((long) a.length * Long.BYTES, stream);
        DeviceTransfers.upload(device, stream, a, b);
        return b;
    }

    protected float[] get(DeviceBuffer b, int n) {
        return DeviceTransfers.download(device, stream, b, n);
    }

    @Test
    void copiesGoThereAndBack() {
        float[] a = random(new Random(1), 1000);
        DeviceBuffer d = put(a);
        DeviceBuffer e = ops.floats(1000, stream);
        device.copyDeviceToDevice(d, e, 4000, stream);
        assertArrayEquals(a, get(e, 1000));
        assertArrayEquals(Arrays.copyOfRange(a, 10, 20), get(e.floats(10, 10), 10), "a slice reads from its offset");
        device.fillZero(e.floats(0, 500), stream);
        float[] back = get(e, 1000);
        for (int i = 0; i < 500; i++) assertEquals(0f, back[i]);
        assertEquals(a[500], back[500]);
    }

    @Test
    void gemmMatchesTheCpuForEveryTransposeAndScale() {
        Random r = new Random(2);
        int m = 7, n = 5, k = 9;
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                float[] a = random(r, m * k), b = random(r, k * n), c = random(r, m * n);
                float alpha = 0.5f, beta = 2f;
                float[] expected = new float[m * n];
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double s = 0;
                        for (int p = 0; p < k; p++) s += (double) (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                        expected[i * n + j] = (float) (alpha * s + beta * c[i * n + j]);
                    }
                }
                DeviceBuffer dc = put(c);
                device.gemm(stream, ta, tb, m, n, k, alpha, put(a), put(b), beta, dc);
                assertClose(expected, get(dc, m * n), "gemm transA=" + ta + " transB=" + tb);
            }
        }
    }

    @Test
    void convolutionsMatchTheCpuKernelsAndChooseOncePerShape() {
        Random r = new Random(3);
        ConvGeometry g = new ConvGeometry(3, 2, 9, 8, 4, 3, 3, 2, 1, 1, 0);
        float[] x = random(r, g.n() * g.inImage()), w = random(r, g.cout() * g.patch()), b = random(r, g.cout());
        float[] dy = random(r, g.n() * g.outImage());
        float[] y = new float[g.n() * g.outImage()], dx = new float[g.n() * g.inImage()], dw = new float[w.length], db = new float[g.cout()];
        CpuBackend cpu = CpuBackend.serial();
        ConvKernels.forward(cpu, g, x, w, b, y);
        ConvKernels.backwardData(cpu, g, dy, w, dx);
        ConvKernels.backwardWeight(cpu, g, x, dy, dw, db);
        DeviceBuffer dX = put(x), dW = put(w), dB = put(b), dDy = put(dy);
        DeviceBuffer dY = ops.floats(y.length, stream), dDx = ops.floats(dx.length, stream), dDw = ops.floats(dw.length, stream),
                dDb = ops.floats(db.length, stream);
        for (int round = 0; round < 2; round++) {
            ops.convForward(stream, g, dX, dW, dB, dY);
            ops.convBackward(stream, g, dX, dW, dDy, dDx, dDw, dDb);
        }
        assertClose(y, get(dY, y.length), "conv forward");
        assertClose(dx, get(dDx, dx.length), "conv backward data");
        assertClose(dw, get(dDw, dw.length), "conv backward filter");
        assertClose(db, get(dDb, db.length), "conv bias gradient");
        assertEquals(3, ops.algorithms().finds(), "one algorithm search per direction and shape, however many calls");
    }

    @Test
    void reluBiasAndReductionKernelsMatchJava() {
        Random r = new Random(4);
        int rows = 6, cols = 5;
        float[] x = random(r, rows * cols), bias = random(r, cols), g = random(r, rows * cols);
        DeviceBuffer dx = put(x), dy = ops.floats(x.length, stream);
        ops.reluForward(stream, x.length, dx, dy);
        float[] relu = new float[x.length], reluGrad = new float[x.length], biased = new float[x.length], colSums = new float[cols];
        for (int i = 0; i < x.length; i++) {
            relu[i] = Math.max(0f, x[i]);
            reluGrad[i] = relu[i] > 0 ? g[i] : 0f;
            biased[i] = x[i] + bias[i % cols];
            colSums[i % cols] += x[i];
        }
        assertArrayEquals(relu, get(dy, x.length), "relu forward");
        DeviceBuffer dg = put(g), dgx = ops.floats(x.length, stream);
        ops.reluBackward(stream, x.length, dy, dg, dgx);
        assertArrayEquals(reluGrad, get(dgx, x.length), "relu backward");
        DeviceBuffer sums = ops.floats(cols, stream);
        device.launch(stream, "sum_columns", LaunchConfig.linear(cols), KernelArgs.of().ptr(dx).ptr(sums).i32(rows).i32(cols));
        assertClose(colSums, get(sums, cols), "sum_columns");
        device.launch(stream, "add_bias_rows", LaunchConfig.linear(x.length), KernelArgs.of().ptr(dx).ptr(put(bias)).i64(rows).i32(cols));
        assertArrayEquals(biased, get(dx, x.length), "add_bias_rows");
        float total = 0f;
        for (float v : biased) total += v;
        DeviceBuffer one = ops.floats(1, stream);
        device.launch(stream, "sum_all", new LaunchConfig(1, 1, 1, LaunchConfig.SUM_THREADS, 1, 1, 0), KernelArgs.of().ptr(dx).ptr(one).i64(x.length));
        assertClose(new float[] {total}, get(one, 1), "sum_all");
        DeviceBuffer idx = ops.allocator().allocate(rows * 8L, stream);
        device.launch(stream, "argmax_rows", LaunchConfig.linear(rows), KernelArgs.of().ptr(dx).ptr(idx).i32(rows).i32(cols));
        long[] arg = DeviceTransfers.downloadLongs(device, stream, idx, rows);
        for (int i = 0; i < rows; i++) {
            int best = 0;
            for (int j = 1; j < cols; j++) if (biased[i * cols + j] > biased[i * cols + best]) best = j;
            assertEquals(best, arg[i], "argmax of row " + i);
        }
    }

    @Test
    void elementwiseHelpersOfTheTensorOpsMatchJava() {
        float[] x = {1, -2, 3.5f, 4}, y = {0.5f, 0.25f, -1, 2};
        DeviceBuffer dx = put(x), dy = put(y), k = put(new float[] {-3f}), f = ops.floats(3, stream);
        ops.axpy(stream, 4, 0.5f, dx, dy);
        assertArrayEquals(new float[] {1f, -0.75f, 0.75f, 4f}, get(dy, 4), "axpy_f32");
        ops.scaleBy(stream, 4, dx, k);
        assertArrayEquals(new float[] {-3f, 6f, -10.5f, -12f}, get(dx, 4), "scale_by_f32");
        ops.fill(stream, 3, 7.25f, f);
        assertArrayEquals(new float[] {7.25f, 7.25f, 7.25f}, get(f, 3), "fill_f32");
    }

    @Test
    void maxPoolingMatchesTheCpuKernels() {
        Random r = new Random(5);
        for (PoolGeometry g : List.of(new PoolGeometry(6, 8, 8, 2, 2, 2, 2, 0, 0), new PoolGeometry(4, 7, 9, 3, 3, 2, 2, 1, 1))) {
            int in = g.planes() * g.h() * g.w(), out = g.planes() * g.oh() * g.ow();
            float[] x = random(r, in), dout = random(r, out), y = new float[out], dx = new float[in];
            int[] idx = new int[out];
            PoolKernels.maxForward(CpuBackend.serial(), g, x, y, idx);
            PoolKernels.maxBackward(CpuBackend.serial(), g, dout, idx, dx);
            DeviceBuffer dY = ops.floats(out, stream), dI = ops.allocator().allocate(out * 4L, stream), dDx = ops.floats(in, stream);
            ops.maxPoolForward(stream, g, put(x), dY, dI);
            ops.maxPoolBackward(stream, g, put(dout), dI, dDx);
            assertArrayEquals(y, get(dY, out), "max pool forward " + g);
            assertArrayEquals(idx, DeviceTransfers.downloadInts(device, stream, dI, out), "max pool indices " + g);
            assertClose(dx, get(dDx, in), "max pool backward " + g);
        }
    }

    @Test
    void crossEntropyMatchesJava() {
        Random r = new Random(6);
        int n = 5, c = 4;
        float[] logits = random(r, n * c);
        long[] t = {0, 3, 1, 1, 2};
        float weight = 0.6f;
        double loss = 0;
        float[] grad = new float[n * c];
        for (int i = 0; i < n; i++) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int k = 0; k < c; k++) max = Math.max(max, logits[i * c + k]);
            for (int k = 0; k < c; k++) sum += Math.exp(logits[i * c + k] - max);
            double lse = max + Math.log(sum);
            loss += lse - logits[i * c + (int) t[i]];
            for (int k = 0; k < c; k++) grad[i * c + k] = (float) ((Math.exp(logits[i * c + k] - lse) - (k == t[i] ? 1 : 0)) * weight / n);
        }
        DeviceBuffer lp = ops.floats(n * c, stream), rows = ops.floats(n, stream), l = ops.floats(1, stream), d = ops.floats(n * c, stream);
        DeviceBuffer targets = putLongs(t);
        ops.crossEntropyForward(stream, n, c, put(logits), targets, lp, rows, l, weight);
        ops.crossEntropyBackward(stream, n, c, lp, targets, d, weight);
        assertClose(new float[] {(float) (loss / n * weight)}, get(l, 1), "cross entropy");
        assertClose(grad, get(d, n * c), "cross entropy gradient");
    }

    @Test
    void fusedOptimizerUpdatesMatchJava() {
        Random r = new Random(7);
        int n = 33;
        float[] p = random(r, n), g = random(r, n), buf = random(r, n), v = new float[n];
        for (int i = 0; i < n; i++) v[i] = Math.abs(g[i]);
        // SGD, momentum 0.9, dampening 0.1, weight decay 0.01, nesterov, not the first step
        float[] sgdP = p.clone(), sgdB = buf.clone();
        for (int i = 0; i < n; i++) {
            float d = g[i] + 0.01f * sgdP[i];
            float b = 0.9f * sgdB[i] + (1f - 0.1f) * d;
            sgdB[i] = b;
            sgdP[i] -= 0.1f * (d + 0.9f * b);
        }
        DeviceBuffer dp = put(p), dg = put(g), db = put(buf);
        ops.sgdStep(stream, n, dp, dg, db, 0.1f, 0.9f, 0.1f, 0.01f, true, false);
        assertClose(sgdP, get(dp, n), "sgd parameters");
        assertClose(sgdB, get(db, n), "sgd momentum buffer");
        // AdamW at step 3
        float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
        float[] ap = p.clone(), am = buf.clone(), av = v.clone();
        double bias1 = 1 - Math.pow(b1, 3), bias2 = 1 - Math.pow(b2, 3);
        for (int i = 0; i < n; i++) {
            double pi = ap[i] * (1 - lr * wd);
            double mi = am[i] * b1 + (1 - b1) * g[i], vi = av[i] * b2 + (1 - b2) * (double) g[i] * g[i];
            am[i] = (float) mi;
            av[i] = (float) vi;
            ap[i] = (float) (pi - lr / bias1 * mi / (Math.sqrt(vi) / Math.sqrt(bias2) + eps));
        }
        DeviceBuffer ap0 = put(p), am0 = put(buf), av0 = put(v);
        ops.adamStep(stream, n, ap0, dg, am0, av0, lr, b1, b2, eps, wd, 3, true);
        assertClose(ap, get(ap0, n), "adamw parameters");
        assertClose(am, get(am0, n), "adamw first moment");
        assertClose(av, get(av0, n), "adamw second moment");
        // RMSprop with momentum
        float[] rp = p.clone(), rv = v.clone(), rb = buf.clone();
        for (int i = 0; i < n; i++) {
            float gi = g[i];
            rv[i] = rv[i] * 0.99f + 0.01f * gi * gi;
            float avg = (float) Math.sqrt(rv[i]) + 1e-8f;
            rb[i] = rb[i] * 0.5f + gi / avg;
            rp[i] -= 0.01f * rb[i];
        }
        DeviceBuffer rp0 = put(p), rv0 = put(v), rb0 = put(buf);
        ops.rmspropStep(stream, n, rp0, dg, rv0, rb0, 0.01f, 0.99f, 1e-8f, 0f, 0.5f);
        assertClose(rp, get(rp0, n), "rmsprop parameters");
        assertClose(rv, get(rv0, n), "rmsprop square average");
    }

    @Test
    void anEventOrdersWorkOnTwoStreams() {
        Stream other = device.newStream();
        Event done = device.newEvent();
        float[] a = random(new Random(8), 4096);
        DeviceBuffer src = put(a), dst = ops.floats(a.length, stream);
        device.fillZero(dst, stream);
        device.synchronize(stream);
        for (int i = 0; i < 3; i++) device.launch(stream, "scale_f32", LaunchConfig.linear(a.length), KernelArgs.of().ptr(src).f32(2f).i64(a.length));
        device.record(done, stream);
        device.waitEvent(other, done);
        device.copyDeviceToDevice(src, dst, a.length * 4L, other);
        float[] expected = new float[a.length];
        for (int i = 0; i < a.length; i++) expected[i] = a[i] * 8f;
        assertArrayEquals(expected, DeviceTransfers.download(device, other, dst, a.length));
        assertTrue(device.isComplete(done));
        other.close();
    }

    @Test
    void aCapturedStepReplayedGivesTheEagerStepsBits() {
        TinyMlp eager = new TinyMlp(ops, List.of(stream), 7, 11);
        for (int s = 0; s < 4; s++) eager.step(s);
        float[] expected = eager.parameters(0);
        assertTrue(maxDifference(eager.initialParameters(), expected) > 1e-3, "training moved the parameters");
        TinyMlp captured = new TinyMlp(ops, List.of(stream), 7, 11);
        captured.loadBatch(0);
        captured.compute(0);                        // an eager step first: algorithm searches and caches warm
        captured.reduceAndUpdate();
        device.beginCapture(stream);
        captured.compute(0);
        captured.reduceAndUpdate();
        Graph step = device.endCapture(stream);
        assertTrue(step.operations() > 10, "the whole step was captured: " + step.operations() + " operations");
        for (int s = 1; s < 4; s++) {
            captured.loadBatch(s);                  // a new batch into the same buffers, then one launch for the step
            device.replay(step, stream);
        }
        assertArrayEquals(expected, captured.parameters(0), "replay of a captured step gives the eager steps' bits");
        step.close();
    }

    @Test
    void theSteadyStateAllocatesNothing() {
        ConvGeometry g = new ConvGeometry(2, 3, 10, 10, 4, 3, 3, 1, 1, 1, 1);
        float[] x = random(new Random(9), g.n() * g.inImage()), w = random(new Random(10), g.cout() * g.patch());
        DeviceBuffer dX = put(x), dW = put(w);
        int afterWarmUp = 0;
        for (int i = 0; i < 6; i++) {
            DeviceBuffer y = ops.floats((long) g.n() * g.outImage(), stream), r = ops.floats((long) g.n() * g.outImage(), stream);
            ops.convForward(stream, g, dX, dW, null, y);
            ops.reluForward(stream, (long) g.n() * g.outImage(), y, r);
            ops.allocator().free(y);
            ops.allocator().free(r);
            if (i == 1) afterWarmUp = ops.allocator().deviceMallocs();
        }
        device.synchronize(stream);
        assertEquals(afterWarmUp, ops.allocator().deviceMallocs(), "no device malloc per op once the cache is warm");
        assertTrue(ops.allocator().memoryReserved() >= ops.allocator().memoryAllocated());
    }

    @Test
    void oneTwoAndThreeReplicasOnOneDeviceTrainToTheSameParameters() {
        float[] reference = null;
        for (int replicas = 1; replicas <= 3; replicas++) {
            List<Stream> streams = new ArrayList<>();
            for (int i = 0; i < replicas; i++) streams.add(device.newStream());
            TinyMlp net = new TinyMlp(ops, streams, 7, 11);
            for (int s = 0; s < 5; s++) net.step(s);
            float[] p0 = net.parameters(0);
            for (int i = 1; i < replicas; i++) assertArrayEquals(p0, net.parameters(i), "replica " + i + " of " + replicas + " has replica 0's bits");
            if (reference == null) {
                reference = p0;
                assertTrue(maxDifference(net.initialParameters(), p0) > 1e-3, "training moved the parameters");
            } else assertClose(reference, p0, replicas + " replicas against 1");
            net.close();
            for (Stream s : streams) s.close();
        }
    }
}
