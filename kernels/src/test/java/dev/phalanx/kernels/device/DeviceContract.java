package dev.phalanx.kernels.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

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

    /** Bytes of little-endian values, for the kernels of any element type. */
    private static byte[] bytes(java.util.function.Consumer<java.nio.ByteBuffer> fill, int n) {
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(n).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        fill.accept(b);
        return b.array();
    }

    private DeviceBuffer putBytes(byte[] b) {
        DeviceBuffer d = ops.allocator().allocate(b.length, stream);
        DeviceTransfers.uploadBytes(device, stream, b, d);
        return d;
    }

    private java.nio.ByteBuffer getBytes(DeviceBuffer b, int n) {
        return java.nio.ByteBuffer.wrap(DeviceTransfers.downloadBytes(device, stream, b, n)).order(java.nio.ByteOrder.LITTLE_ENDIAN);
    }

    /** dtypes.cu against values worked out by hand from Java's casts (the CPU's conversion rules). */
    @Test
    void dtypeKernelsMatchJava() {
        double[] v = {-1.75, 2.5, 300.7, 1e10, Double.NaN, -0.0, 16_777_217};
        DeviceBuffer f64 = putBytes(bytes(b -> { for (double x : v) b.putDouble(x); }, v.length * 8));
        DeviceBuffer i8 = ops.allocator().allocate(v.length, stream), i64 = ops.allocator().allocate(v.length * 8L, stream);
        DeviceBuffer f32 = ops.floats(v.length, stream), bools = ops.allocator().allocate(v.length, stream);
        ops.convert(stream, v.length, f64, ElementType.F64, i8, ElementType.I8);
        ops.convert(stream, v.length, f64, ElementType.F64, i64, ElementType.I64);
        ops.convert(stream, v.length, f64, ElementType.F64, f32, ElementType.F32);
        ops.convert(stream, v.length, f64, ElementType.F64, bools, ElementType.BOOL);
        java.nio.ByteBuffer b8 = getBytes(i8, v.length), bb = getBytes(bools, v.length);
        long[] l = DeviceTransfers.downloadLongs(device, stream, i64, v.length);
        float[] f = get(f32, v.length);
        for (int i = 0; i < v.length; i++) {
            assertEquals((byte) (int) v[i], b8.get(i), "float64 -> int8 of " + v[i] + " (through Java's (int), wrapping: 300.7 gives 44)");
            assertEquals((long) v[i], l[i], "float64 -> int64 of " + v[i]);
            assertEquals(Float.floatToIntBits((float) v[i]), Float.floatToIntBits(f[i]), "float64 -> float32 of " + v[i]);
            assertEquals(v[i] != 0 ? 1 : 0, bb.get(i), "float64 -> bool of " + v[i]);
        }
        long[] big = {Long.MAX_VALUE, -5, 9_007_199_254_740_993L};
        DeviceBuffer lb = putLongs(big), lf = ops.floats(3, stream), li = ops.allocator().allocate(12, stream);
        ops.convert(stream, 3, lb, ElementType.I64, lf, ElementType.F32);
        ops.convert(stream, 3, lb, ElementType.I64, li, ElementType.I32);
        float[] lff = get(lf, 3);
        int[] lii = DeviceTransfers.downloadInts(device, stream, li, 3);
        for (int i = 0; i < 3; i++) {
            assertEquals((float) (double) big[i], lff[i], "int64 -> float32 through double, of " + big[i]);
            assertEquals((int) big[i], lii[i], "int64 -> int32 wraps, of " + big[i]);
        }
        // strided_copy: a 3 x 4 int32 matrix transposed; compare_broadcast of it against a column; compare_scalar
        int[] m = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
        DeviceBuffer src = putBytes(bytes(b -> { for (int x : m) b.putInt(x); }, 48)), dst = ops.allocator().allocate(48, stream);
        ops.stridedCopy(stream, new int[] {4, 3}, new int[] {1, 4}, new int[] {3, 1}, 4, src, dst);
        assertArrayEquals(new int[] {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, DeviceTransfers.downloadInts(device, stream, dst, 12), "strided_copy");
        DeviceBuffer col = putBytes(bytes(b -> b.putFloat(4.5f).putFloat(Float.NaN).putFloat(1f), 12)), out = ops.allocator().allocate(12, stream);
        ops.compare(stream, DeviceOps.CMP_LT, true, 2, 12, src, ElementType.I32, col, ElementType.F32, out, new int[] {3, 4, 4, 1, 1, 0});
        java.nio.ByteBuffer lt = getBytes(out, 12);
        float[] c = {4.5f, Float.NaN, 1f};
        for (int i = 0; i < 12; i++) assertEquals(m[i] < c[i / 4] ? 1 : 0, lt.get(i), "int32 < float32 column, element " + i);
        ops.compareScalar(stream, DeviceOps.CMP_GE, false, 12, src, ElementType.I32, 7.0, 7, out);
        java.nio.ByteBuffer ge = getBytes(out, 12);
        for (int i = 0; i < 12; i++) assertEquals(m[i] >= 7 ? 1 : 0, ge.get(i), "int32 >= 7, element " + i);
        // exact integer sums: 1000 bools (more than the block's threads), int32 along a dimension, an int64 counter
        byte[] flags = new byte[1000];
        Random r = new Random(9);
        int ones = 0;
        for (int i = 0; i < flags.length; i++) ones += flags[i] = (byte) (r.nextBoolean() ? 1 : 0);
        DeviceBuffer total = ops.allocator().allocate(8, stream), rows = ops.allocator().allocate(24, stream);
        ops.sumAllLong(stream, flags.length, putBytes(flags), ElementType.BOOL, total);
        assertEquals(ones, DeviceTransfers.downloadLongs(device, stream, total, 1)[0], "sum_all_i64 of bools");
        ops.sumDimLong(stream, 3, 4, 1, src, ElementType.I32, rows);
        assertArrayEquals(new long[] {6, 22, 38}, DeviceTransfers.downloadLongs(device, stream, rows, 3), "sum_dim_i64");
        ops.addLong(stream, 3, Long.MAX_VALUE, rows);
        assertArrayEquals(new long[] {6 + Long.MAX_VALUE, 22 + Long.MAX_VALUE, 38 + Long.MAX_VALUE}, DeviceTransfers.downloadLongs(device, stream, rows, 3),
                "add_i64 wraps");
    }

    /** max and min with indices, their gradient, batch norm against double-precision Java, dropout's mask against its definition. */
    @Test
    void extremeBatchNormAndDropoutKernelsMatchJava() {
        Random r = new Random(10);
        int outer = 3, size = 5, inner = 2;
        float[] x = random(r, outer * size * inner);
        x[(1 * size + 4) * inner + 1] = x[(1 * size + 2) * inner + 1] = 9f; // a tie: the first index wins
        DeviceBuffer dx = put(x), values = ops.floats(outer * inner, stream), idx = ops.allocator().allocate(outer * inner * 8L, stream);
        ops.extremeDim(stream, outer, size, inner, false, dx, values, idx);
        float[] vals = get(values, outer * inner);
        long[] ix = DeviceTransfers.downloadLongs(device, stream, idx, outer * inner);
        for (int o = 0; o < outer; o++) {
            for (int i = 0; i < inner; i++) {
                int best = 0;
                for (int k = 1; k < size; k++) if (x[(o * size + k) * inner + i] > x[(o * size + best) * inner + i]) best = k;
                assertEquals(best, ix[o * inner + i], "argmax of line " + o + ", " + i);
                assertEquals(x[(o * size + best) * inner + i], vals[o * inner + i]);
            }
        }
        assertEquals(2, ix[1 * inner + 1], "the first of two maxima");
        float[] g = random(r, outer * inner);
        DeviceBuffer grad = ops.floats(x.length, stream);
        ops.pickBackward(stream, outer, size, inner, put(g), idx, grad);
        float[] gx = get(grad, x.length);
        for (int j = 0; j < x.length; j++) {
            int o = j / (size * inner), k = (j / inner) % size, i = j % inner;
            assertEquals(ix[o * inner + i] == k ? g[o * inner + i] : 0f, gx[j], "pick_backward " + j);
        }
        float[] many = random(r, 1000);
        many[700] = -7f;
        many[300] = -7f;
        DeviceBuffer one = ops.floats(1, stream), at = ops.allocator().allocate(8, stream);
        ops.extremeAll(stream, many.length, true, put(many), one, at);
        assertEquals(-7f, get(one, 1)[0]);
        assertEquals(300L, DeviceTransfers.downloadLongs(device, stream, at, 1)[0], "the first minimum over one block");
        // batch norm, training: [n 4, c 3, inner 70] (280 values per channel: more than the block's threads)
        int n = 4, ch = 3, in = 70;
        float[] bx = random(r, n * ch * in), w = random(r, ch), b = random(r, ch), rm = {0.5f, -1f, 2f}, rv = {1f, 2f, 0.5f};
        DeviceBuffer xb = put(bx), mean = ops.floats(ch, stream), invstd = ops.floats(ch, stream), drm = put(rm), drv = put(rv), y = ops.floats(bx.length, stream);
        ops.batchNormStats(stream, n, ch, in, 1e-5f, 0.1f, xb, mean, invstd, drm, drv);
        ops.batchNormApply(stream, n, ch, in, xb, mean, invstd, put(w), put(b), y);
        float[] ey = new float[bx.length], erm = new float[ch], erv = new float[ch];
        int count = n * in;
        for (int k = 0; k < ch; k++) {
            double s = 0, q = 0;
            for (int j = 0; j < count; j++) s += bx[((j / in) * ch + k) * in + j % in];
            double mu = s / count;
            for (int j = 0; j < count; j++) q += Math.pow(bx[((j / in) * ch + k) * in + j % in] - mu, 2);
            erm[k] = (float) (0.9 * rm[k] + 0.1 * mu);
            erv[k] = (float) (0.9 * rv[k] + 0.1 * q / (count - 1));
            for (int j = 0; j < count; j++) {
                int e = ((j / in) * ch + k) * in + j % in;
                ey[e] = (float) ((bx[e] - mu) / Math.sqrt(q / count + 1e-5) * w[k] + b[k]);
            }
        }
        assertClose(ey, get(y, bx.length), "batch_norm_apply after batch_norm_stats");
        assertClose(erm, get(drm, ch), "running mean");
        assertClose(erv, get(drv, ch), "running variance (unbiased)");
        // dropout: element i kept where SplitMix64's output for counter offset + i + 1 from the seed, as a 24-bit float, is >= p;
        // the seed and the offset are read from device memory and the offset moves past the call's counters there
        int count2 = 5000;
        float p = 0.25f;
        long seed = 0x1234_5678_9abcL, offset = 1000;
        float[] ones2 = new float[count2];
        Arrays.fill(ones2, 1f);
        DeviceBuffer rng = ops.allocator().allocate(16, stream);
        DeviceTransfers.upload(device, stream, new long[] {seed, offset}, rng);
        for (int call = 0; call < 2; call++) {
            DeviceBuffer keep = ops.allocator().allocate(count2, stream), dropped = ops.floats(count2, stream);
            ops.dropoutForward(stream, count2, p, 1f / (1f - p), rng, put(ones2), dropped, keep);
            float[] got = get(dropped, count2);
            java.nio.ByteBuffer kept = getBytes(keep, count2);
            long first = offset + (long) call * count2;
            for (int i = 0; i < count2; i++) {
                long z = seed + (first + i + 1L) * 0x9E3779B97F4A7C15L;
                z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
                z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
                z ^= z >>> 31;
                boolean k = (z >>> 40) / 16777216.0 >= p;
                assertEquals(k ? 1 : 0, kept.get(i), "dropout mask " + i + " of call " + call);
                assertEquals(k ? 1f / (1f - p) : 0f, got[i], "dropout output " + i + " of call " + call);
            }
        }
        assertArrayEquals(new long[] {seed, offset + 2L * count2}, DeviceTransfers.downloadLongs(device, stream, rng, 2),
                "the seed kept, the offset moved past both calls' counters on the device");
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
        ops.sgdStep(stream, n, dp, dg, db, put(new float[] {0.1f}), 0.9f, 0.1f, 0.01f, true, false);
        assertClose(sgdP, get(dp, n), "sgd parameters");
        assertClose(sgdB, get(db, n), "sgd momentum buffer");
        // AdamW at step 3: the count (2 before the step) advanced on the device, the bias corrections computed there from it
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
        DeviceBuffer ap0 = put(p), am0 = put(buf), av0 = put(v), step = put(new float[] {2f});
        ops.stepCountIncrement(stream, step);
        ops.adamStep(stream, n, ap0, dg, am0, av0, put(new float[] {lr}), step, b1, b2, eps, wd, true);
        assertEquals(3f, get(step, 1)[0], "the step count advanced on the device");
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
        ops.rmspropStep(stream, n, rp0, dg, rv0, rb0, null, put(new float[] {0.01f}), 0.99f, 1e-8f, 0f, 0.5f);
        assertClose(rp, get(rp0, n), "rmsprop parameters");
        assertClose(rv, get(rv0, n), "rmsprop square average");
        // centred RMSprop with weight decay, no momentum (two steps: the second subtracts a non-zero running mean)
        float[] cp = p.clone(), cv = new float[n], ca = new float[n];
        DeviceBuffer cp0 = put(p), cv0 = put(cv), ca0 = put(ca), centredLr = put(new float[] {0.01f});
        for (int k = 0; k < 2; k++) {
            for (int i = 0; i < n; i++) {
                float gi = g[i] + 0.1f * cp[i];
                cv[i] = cv[i] * 0.9f + (1 - 0.9f) * gi * gi;
                ca[i] = ca[i] * 0.9f + (1 - 0.9f) * gi;
                cp[i] -= 0.01f * (gi / ((float) Math.sqrt(cv[i] - ca[i] * ca[i]) + 1e-8f));
            }
            ops.rmspropStep(stream, n, cp0, dg, cv0, null, ca0, centredLr, 0.9f, 1e-8f, 0.1f, 0f);
        }
        assertClose(cp, get(cp0, n), "centred rmsprop parameters");
        assertClose(ca, get(ca0, n), "centred rmsprop gradient average");
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
    void timingEventsMeasureTheWorkBetweenThem() {
        int n = 256;
        DeviceBuffer a = put(random(new Random(9), n * n)), c = ops.floats(n * n, stream);
        Event start = device.newTimingEvent(), mid = device.newTimingEvent(), end = device.newTimingEvent();
        device.record(start, stream);
        for (int i = 0; i < 4; i++) device.gemm(stream, false, false, n, n, n, 1f, a, a, 0f, c);
        device.record(mid, stream);
        for (int i = 0; i < 4; i++) device.gemm(stream, false, true, n, n, n, 1f, a, a, 0f, c);
        device.record(end, stream);
        device.synchronize(end);
        float first = device.elapsedMillis(start, mid), second = device.elapsedMillis(mid, end), all = device.elapsedMillis(start, end);
        assertTrue(first > 0 && second > 0, "each half took device time: " + first + " and " + second + " ms");
        assertEquals(all, first + second, 0.01f + 1e-3f * all, "the halves add up to the whole");
        Event ordering = device.newEvent();
        device.record(ordering, stream);
        device.synchronize(ordering);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> device.elapsedMillis(start, ordering));
        assertTrue(e.getMessage().contains("newTimingEvent"), e.getMessage());
        for (Event ev : List.of(start, mid, end, ordering)) ev.close();
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

    /**
     * The step of 3 replicas, each on its own stream, captured into one graph across the streams
     * (fork: the others wait for an event recorded on replica 0's capturing stream and join the
     * capture; join: replica 0's stream waits for an event recorded on each after its last work)
     * and replayed on replica 0's stream: every replica's parameters are the eager run's bits.
     */
    @Test
    void aStepOfSeveralReplicasCapturedAcrossTheirStreamsReplaysTheEagerBits() {
        List<Stream> streams = new ArrayList<>();
        for (int i = 0; i < 3; i++) streams.add(device.newStream());
        TinyMlp eager = new TinyMlp(ops, streams, 7, 11);
        for (int s = 0; s < 4; s++) eager.step(s);
        float[][] expected = new float[3][];
        for (int i = 0; i < 3; i++) expected[i] = eager.parameters(i);
        eager.close();
        TinyMlp captured = new TinyMlp(ops, streams, 7, 11);
        captured.step(0);                           // the warm-up, eager
        Stream origin = streams.get(0);
        Event fork = device.newEvent(), launched = device.newEvent();
        List<Event> joins = new ArrayList<>(), loaded = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            joins.add(device.newEvent());
            loaded.add(device.newEvent());
        }
        device.beginCapture(origin);
        device.record(fork, origin);
        for (int i = 1; i < 3; i++) device.waitEvent(streams.get(i), fork);
        for (int i = 1; i < 3; i++) assertTrue(device.isCapturing(streams.get(i)), "replica " + i + "'s stream joined the capture");
        captured.compute(0);
        captured.reduceAndUpdate();
        for (int i = 1; i < 3; i++) {
            device.record(joins.get(i), streams.get(i));
            device.waitEvent(origin, joins.get(i));
        }
        Graph step = device.endCapture(origin);
        for (Stream s : streams) assertTrue(!device.isCapturing(s), "the capture is over on every stream");
        for (int s = 1; s < 4; s++) {
            captured.loadBatch(s);                  // each replica's rows on its own stream, then one launch for all of them
            for (int i = 1; i < 3; i++) {
                device.record(loaded.get(i), streams.get(i));
                device.waitEvent(origin, loaded.get(i));
            }
            device.replay(step, origin);
            device.record(launched, origin);
            for (int i = 1; i < 3; i++) device.waitEvent(streams.get(i), launched);
        }
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(expected[i], captured.parameters(i), "replica " + i + ": the replayed multi-stream step gives the eager bits");
        }
        step.close();
        captured.close();
    }

    @Test
    void aForkedStreamNotJoinedBackFailsTheCapture() {
        Stream other = device.newStream();
        DeviceBuffer x = put(new float[] {1, 2, 3, 4});
        device.synchronize(stream);
        Event fork = device.newEvent();
        device.beginCapture(stream);
        device.record(fork, stream);
        device.waitEvent(other, fork);
        device.launch(other, "scale_f32", LaunchConfig.linear(4), KernelArgs.of().ptr(x).f32(2f).i64(4));
        RuntimeException e = assertThrows(RuntimeException.class, () -> device.endCapture(stream)); // no join back, on purpose
        assertTrue(e.getMessage().contains("cudaErrorStreamCaptureUnjoined"), e.getMessage());
        assertTrue(!device.isCapturing(other) && !device.isCapturing(stream), "the failed capture is over");
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
