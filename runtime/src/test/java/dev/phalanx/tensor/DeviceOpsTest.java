package dev.phalanx.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import org.junit.jupiter.api.Test;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.kernels.Device;
import dev.phalanx.nn.BatchNorm2d;
import dev.phalanx.ops.BatchNormOp;
import dev.phalanx.ops.Compare;
import dev.phalanx.ops.DropoutOp;
import dev.phalanx.ops.Reduce;
import dev.phalanx.testing.Golden;

/**
 * The device ops of issue #9 beyond the training step's: max, min, argmax, argmin (along a dimension
 * and whole), comparisons, dtype conversion, the strided gather and copies into views, cat, batch
 * norm (training with running statistics, evaluation) and dropout. Each against the CPU op (which
 * GoldenOpsTest and DTypesGoldenTest hold to PyTorch): indices, bools and conversions bit for bit,
 * values at the tolerance; every backward against the CPU's and against finite differences taken
 * on the device itself; and that none of them reads its input back to the host.
 */
class DeviceOpsTest {

    /** {@code sim:11} here, {@code cuda:0} in {@link DeviceOpsGpuTest}. */
    protected Device device() {
        return Device.sim(11);
    }

    /** Against the CPU's float32: the simulated device computes as the CPU ops, a GPU within DESIGN.md's 1e-4 relative. */
    protected double atol() {
        return 1e-6;
    }

    protected double rtol() {
        return 1e-5;
    }

    private static Tensor random(long seed, int... shape) {
        return Tensor.randn(new Generator(seed), shape);
    }

    private static int hostCopies(Tensor t) {
        return ((DeviceStorage) t.storage()).hostCopies();
    }

    /** Runs f on CPU leaves and on their device twins; the outputs, and the gradients of every input, agree; no input is read back. */
    private void same(String what, Function<List<Tensor>, Tensor> f, Tensor... inputs) {
        List<Tensor> cpu = new ArrayList<>(), dev = new ArrayList<>();
        for (Tensor t : inputs) {
            cpu.add(t.clone().requiresGrad(true));
            dev.add(t.to(device()).requiresGrad(true));
        }
        Tensor c = f.apply(cpu), d = f.apply(dev);
        assertEquals(device(), d.device(), what + " ran on the device");
        assertEquals(c.gradFn().name(), d.gradFn().name(), what + ": the node's name");
        Golden.assertClose(what + " out", c, d.to(Device.CPU), atol(), rtol());
        Tensor g = random(99, c.shape());
        c.backward(g);
        d.backward(g.to(device()));
        for (int i = 0; i < inputs.length; i++) {
            Golden.assertClose(what + " grad " + i, cpu.get(i).grad(), dev.get(i).grad().to(Device.CPU), atol(), rtol());
            assertEquals(0, hostCopies(dev.get(i)), what + ": input " + i + " was never copied to the host");
        }
    }

    private static void assertSameBits(String what, Tensor expected, Tensor actual) {
        assertEquals(expected.dtype(), actual.dtype(), what + ": dtype");
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        double[] e = expected.contiguousDoubles(), a = actual.contiguousDoubles();
        for (int i = 0; i < e.length; i++) {
            assertEquals(Double.doubleToLongBits(e[i]), Double.doubleToLongBits(a[i]), what + " [" + i + "]: expected " + e[i] + ", got " + a[i]);
        }
    }

    // ---- finite differences on the device

    private static final float EPS = 1e-2f;

    /**
     * The device's analytic gradient of L = sum(f(inputs) * R), R fixed and random, against central
     * differences of L computed on the device (each perturbed input copied up afresh), in float32.
     */
    private void finiteDifferences(String what, Function<List<Tensor>, Tensor> f, Tensor... inputs) {
        Device d = device();
        List<Tensor> leaves = new ArrayList<>();
        for (Tensor t : inputs) leaves.add(t.to(d).requiresGrad(true));
        Tensor out = f.apply(leaves);
        assertEquals(d, out.device(), what + " ran on the device");
        Tensor weights = random(what.hashCode(), out.shape()).to(d);
        out.mul(weights).sum().backward();
        for (int k = 0; k < inputs.length; k++) {
            assertNotNull(leaves.get(k).grad(), what + ": input " + k + " got no gradient");
            float[] analytic = leaves.get(k).grad().to(Device.CPU).data();
            float[] x = inputs[k].clone().data();
            for (int i = 0; i < x.length; i++) {
                double plus = loss(f, inputs, k, x, i, EPS, weights), minus = loss(f, inputs, k, x, i, -EPS, weights);
                double numeric = (plus - minus) / (2 * EPS);
                assertEquals(numeric, analytic[i], 2e-2 * Math.max(1, Math.abs(numeric)), what + ": d/d input " + k + "[" + i + "]");
            }
        }
    }

    private double loss(Function<List<Tensor>, Tensor> f, Tensor[] inputs, int k, float[] x, int i, float delta, Tensor weights) {
        List<Tensor> in = new ArrayList<>();
        for (int j = 0; j < inputs.length; j++) {
            if (j != k) {
                in.add(inputs[j].to(device()));
                continue;
            }
            float[] moved = x.clone();
            moved[i] += delta;
            in.add(Tensor.of(moved, inputs[k].shape()).to(device()));
        }
        try (var ignored = GradMode.noGrad()) {
            return f.apply(in).mul(weights).sum().item();
        }
    }

    // ---- max, min, argmax, argmin

    @Test
    void maxAndMinAlongEachDimensionGiveTheCpusValuesIndicesAndGradients() {
        Tensor x = random(1, 3, 4, 5);
        x.set(x.get(1, 2, 3), 1, 0, 3); // a tie along dimension 1: the first index wins, as on the cpu
        for (int d = -1; d < 3; d++) {
            int dim = d;
            for (boolean min : new boolean[] {false, true}) {
                String what = (min ? "min " : "max ") + dim;
                Reduce.MaxResult c = min ? x.min(dim, false) : x.max(dim, false);
                Reduce.MaxResult r = min ? x.to(device()).min(dim, true) : x.to(device()).max(dim, true);
                assertEquals(device(), r.indices().device());
                assertSameBits(what + " values", c.values().unsqueeze(Math.floorMod(dim, 3)), r.values().to(Device.CPU));
                assertSameBits(what + " indices", c.indices().unsqueeze(Math.floorMod(dim, 3)), r.indices().to(Device.CPU));
                same(what, in -> min ? in.get(0).min(dim, false).values() : in.get(0).max(dim, false).values(), x);
            }
            assertSameBits("argmax " + dim, x.argmax(dim), x.to(device()).argmax(dim).to(Device.CPU));
            assertSameBits("argmin " + dim, x.argmin(dim), x.to(device()).argmin(dim).to(Device.CPU));
        }
    }

    @Test
    void maxAndMinOfTheWholeTensorOverOneBlockWithTiesAndNaN() {
        Tensor big = random(2, 1000); // more elements than the block's 256 threads: every thread scans several
        big.set(9f, 700);
        big.set(9f, 300); // two maxima: the first index
        big.set(-9f, 999);
        big.set(-9f, 5);
        Tensor d = big.to(device());
        assertSameBits("max", big.max(), d.max().to(Device.CPU));
        assertSameBits("min", big.min(), d.min().to(Device.CPU));
        assertEquals(300L, d.argmax().longItem());
        assertEquals(5L, d.argmin().longItem());
        assertEquals(big.argmax().longItem(), d.argmax().longItem());
        same("max", in -> in.get(0).max(), big);
        same("min", in -> in.get(0).min(), big);
        Tensor nan = Tensor.of(1f, Float.NaN, 3f, Float.NaN, -2f);
        assertTrue(Float.isNaN(nan.to(device()).max().item()) && Float.isNaN(nan.to(device()).min().item()), "NaN propagates");
        assertEquals(1L, nan.to(device()).argmax().longItem(), "the first NaN");
        assertEquals(nan.argmax().longItem(), nan.to(device()).argmax().longItem());
        Tensor rows = Tensor.of(new float[] {1, Float.NaN, 5, 7, 2, 7}, 2, 3);
        assertSameBits("argmax with NaN and a tie", rows.argmax(1), rows.to(device()).argmax(1).to(Device.CPU));
        assertSameBits("argmin with NaN", rows.argmin(1), rows.to(device()).argmin(1).to(Device.CPU));
    }

    // ---- comparisons

    @Test
    void comparisonsBroadcastBetweenDtypesAsOnTheCpu() {
        Tensor f = Tensor.of(new float[] {1, 2.5f, Float.NaN, -3, 0, 7}, 2, 3), col = Tensor.of(new float[] {2.5f, 0}, 2, 1);
        Tensor l = Tensor.ofLongs(new long[] {1, 3, 0, -3, 9_007_199_254_740_993L, 7}, 2, 3); // 2^53 + 1: compared as a long, exactly
        Tensor big = Tensor.ofLongs(9_007_199_254_740_992L);
        Tensor i = Tensor.ofInts(1, 0, 7), b = Tensor.ofBools(true, false, true), w = Tensor.ofDoubles(1.0, 2.5000001, -3);
        Tensor[][] pairs = {{f, f}, {f, col}, {f, l}, {l, l}, {l, i}, {i, b}, {f, w}, {w, f}, {l, big}, {b, b}};
        for (Compare.Fn fn : Compare.Fn.values()) {
            for (Tensor[] p : pairs) {
                String what = fn + " " + p[0].dtype() + Shapes.str(p[0].shape()) + " " + p[1].dtype() + Shapes.str(p[1].shape());
                Tensor cpu = Compare.apply(fn, p[0], p[1]);
                Tensor dev = Compare.apply(fn, p[0].to(device()), p[1].to(device()));
                assertEquals(device(), dev.device(), what);
                assertSameBits(what, cpu, dev.to(Device.CPU));
            }
            // a 0-dim cpu operand beside a device tensor, on either side: passed by value
            for (Tensor s : new Tensor[] {Tensor.ofDoubles(2.5).reshape(), Tensor.ofLongs(3).reshape(), Tensor.ofBools(true).reshape()}) {
                for (Tensor t : new Tensor[] {f, l}) {
                    String what = fn + " " + t.dtype() + " and a 0-dim " + s.dtype();
                    assertSameBits(what, Compare.apply(fn, t, s), Compare.apply(fn, t.to(device()), s).to(Device.CPU));
                    assertSameBits(what + " (first)", Compare.apply(fn, s, t), Compare.apply(fn, s, t.to(device())).to(Device.CPU));
                }
            }
        }
        Tensor d = f.to(device());
        assertSameBits("eq(2.5)", f.eq(2.5), d.eq(2.5).to(Device.CPU));
        assertSameBits("gt(0)", f.gt(0), d.gt(0).to(Device.CPU));
        assertSameBits("strided operand", f.t().lt(col.t()), d.t().lt(col.to(device()).t()).to(Device.CPU));
        assertEquals(0, hostCopies(d));
    }

    // ---- dtype conversion

    @Test
    void conversionsBetweenDtypesGiveTheCpusBits() {
        double[] values = {-1.75, 0, 2.5, 100.9, 300.7, -129.5, 65535.9, 1e10, -1e20, 16_777_217, 0.1, Double.NaN, Double.POSITIVE_INFINITY, -0.0};
        DType[] types = {DType.FLOAT64, DType.FLOAT32, DType.FLOAT16, DType.BFLOAT16, DType.INT64, DType.INT32, DType.INT16, DType.INT8, DType.UINT8,
            DType.BOOL};
        Tensor src = Tensor.ofDoubles(values);
        for (DType from : types) {
            Tensor a = src.to(from); // the cpu's conversion from float64: the sources
            Tensor onDevice = a.to(device());
            List<Tensor> converted = new ArrayList<>();
            for (DType to : types) converted.add(to == from ? onDevice.clone() : onDevice.to(to)); // to(its own dtype) is the tensor itself
            assertEquals(0, hostCopies(onDevice), from + ": converted without a read-back");
            for (int k = 0; k < types.length; k++) {
                assertEquals(device(), converted.get(k).device());
                assertSameBits(from + " -> " + types[k], a.to(types[k]), converted.get(k).to(Device.CPU));
            }
            Tensor view = Tensor.ofDoubles(values).to(from).view(2, 7).t(); // a strided source
            assertSameBits(from + " (strided) -> int32", view.to(DType.INT32), view.to(device()).to(DType.INT32).to(Device.CPU));
        }
        Tensor longs = Tensor.ofLongs(Long.MAX_VALUE, -Long.MAX_VALUE, 9_007_199_254_740_993L, 300, -1);
        for (DType to : types) assertSameBits("int64 extremes -> " + to, longs.to(to), longs.to(device()).to(to).to(Device.CPU));
    }

    /**
     * float16 and bfloat16 on the device against HalfFloats: every one of the 65536 bit patterns of each up to float32 and
     * float64, and down from float32 values at and beside every rounding tie, the overflow edge, subnormals, NaN payloads.
     */
    @Test
    void float16AndBfloat16ConvertAsTheCpuEveryBitPattern() {
        short[] all = new short[65536];
        for (int i = 0; i < all.length; i++) all[i] = (short) i;
        for (DType half : new DType[] {DType.FLOAT16, DType.BFLOAT16}) {
            Tensor bits = Tensor.result(half, all.clone(), new int[] {all.length}, null);
            Tensor onDevice = bits.to(device());
            for (DType up : new DType[] {DType.FLOAT32, DType.FLOAT64}) {
                Tensor cpu = bits.to(up), dev = onDevice.to(up).to(Device.CPU);
                assertRawBits(half + " -> " + up, cpu, dev);
            }
            // every pattern up to float32 and back down: each half value itself (NaN payloads as the CPU keeps them)
            assertRawBits(half + " round trip", bits.to(DType.FLOAT32).to(half), onDevice.to(DType.FLOAT32).to(half).to(Device.CPU));
        }
        java.util.Random r = new java.util.Random(5);
        float[] f = new float[40_000];
        for (int i = 0; i < f.length; i++) {
            int b = switch (i % 4) {
                case 0 -> r.nextInt(); // any float
                case 1 -> (r.nextInt(0x8f) << 23) | (r.nextInt(0x400) << 13) | 0x1000 | (r.nextBoolean() ? 0 : 1); // float16 ties and beside
                case 2 -> (r.nextInt(0xff) << 23) | (r.nextInt(0x80) << 16) | 0x8000 | (r.nextBoolean() ? 0 : r.nextInt(3) - 1); // bfloat16 ties
                default -> 0x477fe000 + r.nextInt(0x4000) - 0x2000 | (r.nextBoolean() ? 0x80000000 : 0); // about 65504 and 65520
            };
            f[i] = Float.intBitsToFloat(b);
        }
        f[0] = 0x1.0p-25f; // half the smallest float16 subnormal: a tie to 0
        f[1] = 0x1.8p-25f;
        f[2] = Float.intBitsToFloat(0x7fa00001); // a signalling NaN with a payload
        Tensor floats = Tensor.of(f, f.length);
        for (DType half : new DType[] {DType.FLOAT16, DType.BFLOAT16}) {
            assertRawBits("float32 -> " + half, floats.to(half), floats.to(device()).to(half).to(Device.CPU));
            Tensor doubles = floats.to(DType.FLOAT64).mul(1.0000001);
            assertRawBits("float64 -> " + half + " (through float32, as the CPU)", doubles.to(half), doubles.to(device()).to(half).to(Device.CPU));
        }
    }

    /** The very bits of each element, NaN payloads included (dtype and shape first). */
    private static void assertRawBits(String what, Tensor expected, Tensor actual) {
        assertEquals(expected.dtype(), actual.dtype(), what + ": dtype");
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        HostStorage e = (HostStorage) expected.contiguous().storage(), a = (HostStorage) actual.contiguous().storage();
        Object ea = e.array(), aa = a.array();
        boolean same = switch (expected.dtype()) {
            case FLOAT16, BFLOAT16 -> java.util.Arrays.equals((short[]) ea, (short[]) aa);
            case FLOAT32 -> {
                float[] x = (float[]) ea, y = (float[]) aa;
                boolean eq = x.length == y.length;
                for (int i = 0; eq && i < x.length; i++) eq = Float.floatToRawIntBits(x[i]) == Float.floatToRawIntBits(y[i]);
                yield eq;
            }
            case FLOAT64 -> {
                double[] x = (double[]) ea, y = (double[]) aa;
                boolean eq = x.length == y.length;
                for (int i = 0; eq && i < x.length; i++) eq = Double.doubleToRawLongBits(x[i]) == Double.doubleToRawLongBits(y[i]);
                yield eq;
            }
            default -> throw new IllegalArgumentException(what + ": not a floating dtype");
        };
        if (!same) {
            double[] x = expected.contiguousDoubles(), y = actual.contiguousDoubles();
            for (int i = 0; i < x.length; i++) {
                if (Double.doubleToRawLongBits(x[i]) != Double.doubleToRawLongBits(y[i])) fail(what + " [" + i + "]: expected " + x[i] + ", got " + y[i]);
            }
            fail(what + ": the raw bits differ (a NaN payload)");
        }
    }

    /** An op the device has no kernel for in some dtype says which op, dtype and device, and where to run it; never a wrong result. */
    @Test
    void anOpWithoutADeviceKernelForADtypeSaysSo() {
        Tensor h = Tensor.of(1f, 3f, 2f).to(DType.FLOAT16).to(device());
        IllegalArgumentException max = assertThrows(IllegalArgumentException.class, h::max);
        assertTrue(max.getMessage().contains("max") && max.getMessage().contains("float16") && max.getMessage().contains(device().toString()),
                max.getMessage());
        Tensor longs = Tensor.ofLongs(new long[] {1, 2, 3, 4}, 2, 2).to(device());
        IllegalArgumentException mm = assertThrows(IllegalArgumentException.class, () -> longs.matmul(longs));
        assertTrue(mm.getMessage().contains("matmul") && mm.getMessage().contains("int64") && mm.getMessage().contains(device().toString()),
                mm.getMessage());
    }

    @Test
    void conversionsBetweenFloatingDtypesCarryTheGradient() {
        Tensor x = random(3, 3, 4);
        same("float32 -> float64 -> float32", in -> in.get(0).to(DType.FLOAT64).to(DType.FLOAT32).mul(in.get(0)), x);
        finiteDifferences("to(float64) and back", in -> in.get(0).to(DType.FLOAT64).to(DType.FLOAT32).mul(in.get(0)), random(4, 5));
        Tensor d = x.to(DType.FLOAT64).to(device()).requiresGrad(true);
        Tensor y = DropoutOp.apply(d, 0.5f, new Generator(3)); // a float64 input: the op's Float32Edge converts on the device and back
        assertEquals(DType.FLOAT64, y.dtype());
        y.backward(Tensor.ones(DType.FLOAT64, 3, 4).to(device()));
        assertEquals(DType.FLOAT64, d.grad().dtype());
        assertEquals(device(), d.grad().device());
        Tensor kept = y.ne(Tensor.zeros(3, 4).to(device())); // float64 against float32, on the device
        Golden.assertClose("the gradient is 2 where kept, else 0", kept.to(DType.FLOAT32).mul(2f).to(Device.CPU), d.grad().to(Device.CPU), 0, 0);
    }

    // ---- views made contiguous, copies into views, cat

    @Test
    void stridedViewsAreGatheredOnTheDevice() {
        Tensor x = random(5, 2, 3, 4);
        Tensor d = x.to(device());
        List<Function<Tensor, Tensor>> views = List.of(t -> t.transpose(0, 2), t -> t.permute(2, 0, 1), t -> t.slice(2, 1, 4, 2),
                t -> t.select(1, 1), t -> t.narrow(2, 1, 2).transpose(1, 2), t -> t.select(0, 1).unsqueeze(0).expand(3, 3, 4),
                t -> t.transpose(0, 1).select(0, 0).contiguous().reshape(4, 2), t -> t.flatten(1).t().slice(0, 3, 12, 4),
                t -> t.transpose(1, 2).reshape(2, 12));
        for (int k = 0; k < views.size(); k++) {
            Tensor cpu = views.get(k).apply(x).contiguous(), dev = views.get(k).apply(d).contiguous();
            assertTrue(dev.isContiguous());
            assertSameBits("view " + k, cpu, dev.to(Device.CPU));
        }
        Tensor ints = Tensor.ofLongs(new long[] {1, 2, 3, 4, 5, 6}, 2, 3), bools = ints.gt(Tensor.ofLongs(3));
        assertSameBits("int64 transposed", ints.t().contiguous(), ints.to(device()).t().contiguous().to(Device.CPU));
        assertSameBits("bool transposed", bools.t().contiguous(), bools.to(device()).t().contiguous().to(Device.CPU));
        assertEquals(0, hostCopies(d), "gathered without a read-back");
        same("transpose, then an op", in -> in.get(0).transpose(0, 2).mul(2f), x);
        same("narrow and select gradients land in views of zeros on the device",
                in -> in.get(0).narrow(2, 1, 2).sum(2, false).add(in.get(0).select(2, 0)), x);
        finiteDifferences("strided slice of a transpose, reshape copying", in -> in.get(0).t().slice(0, 0, 4, 2).reshape(-1), random(6, 3, 4));
    }

    @Test
    void copiesIntoViewsConvertAndBroadcastOnTheDevice() {
        Tensor y = Tensor.arange(24).view(2, 3, 4), d = y.to(device());
        try (var ignored = GradMode.noGrad()) {
            for (Tensor t : new Tensor[] {y, d}) {
                t.select(1, 1).copy_(t.select(1, 0).mul(10f));
                t.select(1, 2).copy_(t.select(1, 0).t().t()); // from a view of the same storage: gathered first
                t.narrow(2, 0, 1).copy_(Tensor.ofLongs(7, 8, 9).view(3, 1).to(t.device())); // int64 into float32, broadcast over dim 0
                t.transpose(0, 2).select(0, 3).add_(100f); // in place through a strided view
                t.slice(2, 1, 4, 2).mul_(-1f);
                t.select(0, 1).sub_(t.select(0, 0).t().contiguous().t()); // a binary op in place on a view
            }
        }
        assertSameBits("writes through views", y, d.to(Device.CPU));
    }

    @Test
    void catAlongEachDimensionWithPromotionAndGradients() {
        Tensor a = random(7, 2, 3, 4), b = random(8, 2, 1, 4), c = random(9, 2, 2, 4);
        same("cat dim 1", in -> Tensor.cat(List.of(in.get(0), in.get(1), in.get(2)), 1), a, b, c);
        same("cat dim 0", in -> Tensor.cat(List.of(in.get(0), in.get(0).mul(2f)), 0), a);
        same("cat dim 2 of views", in -> Tensor.cat(List.of(in.get(0).transpose(1, 2), in.get(1).transpose(1, 2)), 2), a, c.narrow(1, 0, 2));
        Tensor ints = Tensor.ofLongs(new long[] {16_777_217, 2}, 2, 1), floats = Tensor.of(new float[] {0.5f, 1.5f}, 2, 1);
        Tensor cpu = Tensor.cat(List.of(ints, floats), 1), dev = Tensor.cat(List.of(ints.to(device()), floats.to(device())), 1);
        assertSameBits("cat of int64 and float32 promotes", cpu, dev.to(Device.CPU));
        finiteDifferences("narrow, select, cat", in -> Tensor.cat(List.of(in.get(0).narrow(1, 1, 2), in.get(1), in.get(0).select(1, 0).unsqueeze(1)), 1),
                random(10, 3, 4), random(11, 3, 2));
    }

    // ---- batch norm

    @Test
    void batchNormTrainsAndEvaluatesAsTheCpuAndKeepsTheRunningStatistics() {
        int[][] shapes = {{4, 3, 5, 5}, {6, 2}, {3, 2, 300}}; // 2-d input (inner 1), and 900 values per channel: several per thread
        for (int[] shape : shapes) {
            Tensor x0 = random(12, shape).mul(2f).add(0.5f), w = random(13, shape[1]), b = random(14, shape[1]);
            String s = Shapes.str(shape);
            same("batch_norm train " + s, in -> BatchNormOp.apply(in.get(0), null, null, in.get(1), in.get(2), true, 0.1f, 1e-5f), x0, w, b);
            Tensor rmC = random(15, shape[1]), rvC = random(16, shape[1]).abs().add(0.5f);
            Tensor rmD = rmC.to(device()), rvD = rvC.to(device());
            for (int step = 0; step < 3; step++) { // the running statistics move three times, on each side
                Tensor x = x0.add((float) step);
                Tensor c = BatchNormOp.apply(x, rmC, rvC, w, b, true, 0.1f, 1e-5f);
                Tensor d = BatchNormOp.apply(x.to(device()), rmD, rvD, w.to(device()), b.to(device()), true, 0.1f, 1e-5f);
                Golden.assertClose("batch_norm train " + s + " step " + step, c, d.to(Device.CPU), atol(), rtol());
            }
            Golden.assertClose("running_mean " + s, rmC, rmD.to(Device.CPU), atol(), rtol());
            Golden.assertClose("running_var " + s, rvC, rvD.to(Device.CPU), atol(), rtol());
            same("batch_norm eval " + s, in -> BatchNormOp.apply(in.get(0), rmC.to(in.get(0).device()), rvC.to(in.get(0).device()), in.get(1), in.get(2),
                    false, 0.1f, 1e-5f), x0, w, b);
            same("batch_norm without affine " + s, in -> BatchNormOp.apply(in.get(0), null, null, null, null, true, 0.1f, 1e-5f), x0);
        }
        finiteDifferences("batch_norm (train)", in -> BatchNormOp.apply(in.get(0), null, null, in.get(1), in.get(2), true, 0.1f, 1e-5f),
                random(17, 3, 2, 2, 2), random(18, 2), random(19, 2));
        Tensor rm = random(20, 2).to(device()), rv = random(21, 2).abs().add(0.5f).to(device());
        finiteDifferences("batch_norm (eval)", in -> BatchNormOp.apply(in.get(0), rm, rv, in.get(1), in.get(2), false, 0.1f, 1e-5f),
                random(22, 3, 2, 2, 2), random(23, 2), random(24, 2));
    }

    @Test
    void theBatchNormModuleKeepsItsStateOnTheDevice() {
        BatchNorm2d cpu = new BatchNorm2d(3), dev = new BatchNorm2d(3);
        dev.to(device());
        for (int step = 0; step < 2; step++) {
            Tensor x = random(25 + step, 4, 3, 2, 2);
            cpu.forward(x);
            dev.forward(x.to(device()));
        }
        cpu.eval();
        dev.eval();
        Tensor x = random(30, 2, 3, 2, 2);
        Golden.assertClose("eval output", cpu.forward(x), dev.forward(x.to(device())).to(Device.CPU), atol(), rtol());
        for (var e : cpu.stateDict().entrySet()) {
            Tensor onDevice = dev.stateDict().get(e.getKey());
            assertEquals(device(), onDevice.device(), e.getKey());
            Golden.assertClose(e.getKey(), e.getValue(), onDevice.to(Device.CPU), atol(), rtol());
        }
        assertEquals(2L, dev.numBatchesTracked.longItem());
    }

    // ---- dropout

    @Test
    void dropoutIsDeterministicForASeedAndItsGradientUsesTheSameMask() {
        Tensor x = random(31, 40, 50).abs().add(1f); // no zeros: a kept element is x * scale, a dropped one 0
        Device d = device();
        float p = 0.3f;
        Tensor first = DropoutOp.apply(x.to(d), p, new Generator(7)).to(Device.CPU);
        Tensor again = DropoutOp.apply(x.to(d), p, new Generator(7)).to(Device.CPU);
        assertSameBits("the same seed, the same mask", first, again);
        Tensor other = DropoutOp.apply(x.to(d), p, new Generator(8)).to(Device.CPU);
        assertNotEquals(java.util.Arrays.toString(first.data()), java.util.Arrays.toString(other.data()), "another seed, another mask");
        Tensor onSim = DropoutOp.apply(x.to(Device.sim(11)), p, new Generator(7)).to(Device.CPU);
        assertSameBits("the mask depends on the seed only, not on the device", onSim, first);
        // one generator drawing twice: its state on the device (seed, offset) moved past the first call's elements there
        Generator shared = new Generator(7);
        assertSameBits("a generator's first draw on a device", first, DropoutOp.apply(x.to(d), p, shared).to(Device.CPU));
        Tensor second = DropoutOp.apply(x.to(d), p, shared).to(Device.CPU);
        assertNotEquals(java.util.Arrays.toString(first.data()), java.util.Arrays.toString(second.data()), "the next draw, another mask");
        assertArrayEquals(new long[] {new Generator(7).nextLong(), 2L * x.numel()}, shared.deviceState(d).to(Device.CPU).longData(),
                "the seed is the generator's first number, the offset past both calls");
        float scale = 1f / (1f - p);
        int kept = 0;
        for (int i = 0; i < x.numel(); i++) {
            float v = first.data()[i];
            if (v != 0f) {
                kept++;
                assertEquals(x.data()[i] * scale, v, 0f, "a kept element is scaled by 1/(1-p)");
            }
        }
        double expected = x.numel() * (1 - p), sigma = Math.sqrt(x.numel() * p * (1 - p));
        assertTrue(Math.abs(kept - expected) < 4 * sigma, kept + " of " + x.numel() + " kept, expected about " + expected);
        Tensor leaf = x.to(d).requiresGrad(true);
        Tensor y = DropoutOp.apply(leaf, p, new Generator(7));
        assertEquals("NativeDropoutBackward0", y.gradFn().name());
        Tensor g = random(32, 40, 50);
        y.backward(g.to(d));
        float[] dx = leaf.grad().to(Device.CPU).data();
        for (int i = 0; i < dx.length; i++) assertEquals(first.data()[i] != 0f ? g.data()[i] * scale : 0f, dx[i], 0f, "dx[" + i + "]");
        assertTrue(DropoutOp.apply(x.to(d), 1f, new Generator(7)).to(Device.CPU).allClose(Tensor.zeros(40, 50), 0, 0), "p = 1 drops everything");
        finiteDifferences("dropout (a fixed seed)", in -> DropoutOp.apply(in.get(0), 0.4f, new Generator(5)), random(33, 4, 5));
    }

    // ---- finite differences of max and min

    @Test
    void maxAndMinGradientsMatchFiniteDifferences() {
        finiteDifferences("max dim", in -> in.get(0).max(1, false).values(), random(34, 3, 4));
        finiteDifferences("min dim 0", in -> in.get(0).min(0, true).values(), random(35, 3, 4));
        finiteDifferences("max", in -> in.get(0).max(), random(36, 3, 4));
        finiteDifferences("min", in -> in.get(0).min(), random(37, 3, 4));
    }
}
