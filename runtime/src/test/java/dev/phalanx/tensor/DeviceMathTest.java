package dev.phalanx.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.Device;
import dev.phalanx.nn.F;
import dev.phalanx.testing.Golden;

/**
 * The device's elementwise arithmetic, unary functions, scalar ops, sums, softmax and MSE against
 * the CPU ops (which the golden tests hold to PyTorch), forward and every gradient, on shapes the
 * golden files do not have: broadcasting both ways and along inner dimensions, reductions along
 * each dimension, softmax along the first, the in-place forms; and average pooling, fixed and
 * adaptive, which no golden file covers.
 */
class DeviceMathTest {

    /** {@code sim:3} here, {@code cuda:0} in {@link DeviceMathGpuTest}. */
    protected Device device() {
        return Device.sim(3);
    }

    /** Against the CPU's float32: the simulated device computes as the CPU ops, a GPU within DESIGN.md's 1e-4 relative. */
    protected double atol() {
        return 1e-6;
    }

    protected double rtol() {
        return 1e-5;
    }

    /**
     * Whether exp, log, pow, tanh ... of float64 (and float16) give the CPU's bits: the simulated device runs Java's Math as the
     * CPU ops do; a GPU's libdevice need not round alike (+, -, *, /, conversions and the sums along a dimension must match anyway).
     */
    protected boolean transcendentalsBitwise() {
        return true;
    }

    private static Tensor random(long seed, int... shape) {
        return Tensor.randn(new Generator(seed), shape);
    }

    /** Runs f on CPU leaves and on their device twins; the outputs and the gradients of every input agree. */
    private void same(String what, Function<List<Tensor>, Tensor> f, Tensor... inputs) {
        List<Tensor> cpu = new java.util.ArrayList<>(), dev = new java.util.ArrayList<>();
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
        }
    }

    @Test
    void binaryOpsBroadcastBothWaysWithTheirGradients() {
        Map<String, java.util.function.BinaryOperator<Tensor>> ops = new LinkedHashMap<>();
        ops.put("add", Tensor::add);
        ops.put("sub", Tensor::sub);
        ops.put("mul", Tensor::mul);
        ops.put("div", Tensor::div);
        int[][][] shapes = {{{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{3, 1}, {1, 5}}, {{2, 1, 4}, {3, 1}}, {{5}, {}}, {{}, {2, 2}}};
        for (var op : ops.entrySet()) {
            for (int[][] s : shapes) {
                Tensor a = random(1, s[0]), b = random(2, s[1]).abs().add(0.5); // no divisor near 0
                same(op.getKey() + " " + Shapes.str(s[0]) + " " + Shapes.str(s[1]), in -> op.getValue().apply(in.get(0), in.get(1)), a, b);
            }
        }
    }

    @Test
    void aBroadcastPutsItsShapeTableOnTheDeviceOnce() {
        dev.phalanx.kernels.device.DeviceOps ops = dev.phalanx.kernels.DeviceContexts.of(device()).ops();
        Tensor a = random(20, 4, 7, 3).to(device()), b = random(21, 7, 1).to(device());
        Tensor first = a.add(b);
        int tables = ops.shapeTableCount();
        for (int i = 0; i < 3; i++) first = first.mul(b).sub(b); // the same shapes: the same table, no copy
        assertEquals(tables, ops.shapeTableCount());
        Tensor cpu = a.to(Device.CPU).add(b.to(Device.CPU));
        for (int i = 0; i < 3; i++) cpu = cpu.mul(b.to(Device.CPU)).sub(b.to(Device.CPU));
        Golden.assertClose("through a reused table", cpu, first.to(Device.CPU), atol(), rtol());
        a.add(random(22, 3).to(device())); // other strides: a new table
        assertEquals(tables + 1, ops.shapeTableCount());
    }

    @Test
    void inPlaceFormsBroadcastTheirArgument() {
        Tensor a = random(3, 2, 3), b = random(4, 3).abs().add(0.5);
        Tensor cpu = a.clone(), dev = a.to(device());
        cpu.mul_(b).div_(b.mul(2f)).sub_(b).add_(b.add(1f)).add_(0.25f).mul_(3f);
        Tensor bd = b.to(device());
        dev.mul_(bd).div_(bd.mul(2f)).sub_(bd).add_(bd.add(1f)).add_(0.25f).mul_(3f);
        Golden.assertClose("in place", cpu, dev.to(Device.CPU), atol(), rtol());
        Device on = device();
        IllegalArgumentException wider = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(3).to(on).add_(Tensor.zeros(2, 3).to(on)));
        assertTrue(wider.getMessage().contains("doesn't match the broadcast shape"), wider.getMessage());
    }

    @Test
    void unaryAndScalarOpsWithTheirGradients() {
        Tensor x = random(5, 3, 4), pos = x.abs().add(0.1), unit = x.tanh().mul(0.9f);
        same("neg", in -> in.get(0).neg(), x);
        same("exp", in -> in.get(0).exp(), x);
        same("log", in -> in.get(0).log(), pos);
        same("sqrt", in -> in.get(0).sqrt(), pos);
        same("abs", in -> in.get(0).abs(), x);
        same("sin", in -> in.get(0).sin(), x);
        same("cos", in -> in.get(0).cos(), x);
        same("asin", in -> in.get(0).asin(), unit);
        same("tanh", in -> in.get(0).tanh(), x);
        same("sigmoid", in -> in.get(0).sigmoid(), x);
        same("add c", in -> in.get(0).add(2.5f), x);
        same("mul c", in -> in.get(0).mul(-1.5f), x);
        same("pow 2", in -> in.get(0).pow(2f), x);
        same("pow 3", in -> in.get(0).pow(3f), pos);
        same("rsub", in -> in.get(0).rsub(1f), x);
        same("div c", in -> in.get(0).div(4f), x);
    }

    @Test
    void sumsAndMeansWholeAndAlongEachDimension() {
        Tensor x = random(6, 2, 3, 4);
        same("sum", in -> in.get(0).sum(), x);
        same("mean", in -> in.get(0).mean(), x);
        for (int d = -1; d < 3; d++) {
            int dim = d;
            same("sum " + dim, in -> in.get(0).sum(dim, false), x);
            same("mean " + dim + " keepdim", in -> in.get(0).mean(dim, true), x);
        }
    }

    @Test
    void softmaxAndLogSoftmaxAlongAnyDimensionNllAndMseEveryReduction() {
        Tensor x = random(7, 3, 5, 2), t = random(8, 3, 5, 2);
        for (int d = 0; d < 3; d++) {
            int dim = d;
            same("softmax " + dim, in -> F.softmax(in.get(0), dim), x);
            same("log_softmax " + dim, in -> F.logSoftmax(in.get(0), dim), x);
        }
        same("log_softmax of a 300-wide row", in -> F.logSoftmax(in.get(0), 1), random(9, 2, 300));
        Tensor labels = Tensor.ofLongs(4, 0, 2, 2, 1, 3);
        for (var r : dev.phalanx.ops.Reduction.values()) {
            same("nll_loss " + r, in -> dev.phalanx.ops.LossOps.nllLoss(F.logSoftmax(in.get(0), 1), labels.to(in.get(0).device()), r),
                    random(16, 6, 5));
        }
        same("mse mean", in -> F.mseLoss(in.get(0), in.get(1)), x, t);
        same("mse sum", in -> dev.phalanx.ops.LossOps.mseLoss(in.get(0), in.get(1), dev.phalanx.ops.Reduction.SUM), x, t);
        same("mse none", in -> dev.phalanx.ops.LossOps.mseLoss(in.get(0), in.get(1), dev.phalanx.ops.Reduction.NONE), x, t);
    }

    @Test
    void averagePoolingFixedWithPaddingAndAdaptive() {
        Tensor x = random(14, 2, 3, 7, 6);
        same("avg_pool2d 2", in -> F.avgPool2d(in.get(0), 2), x);
        same("avg_pool2d 3 stride 2 pad 1", in -> dev.phalanx.ops.PoolOps.avgPool2d(in.get(0), 3, 3, 2, 2, 1, 1), x);
        same("avg_pool2d 3x2 stride 1x2 on CHW", in -> dev.phalanx.ops.PoolOps.avgPool2d(in.get(0), 3, 2, 1, 2, 0, 1), random(15, 3, 7, 6));
        same("adaptive 1x1", in -> dev.phalanx.ops.PoolOps.adaptiveAvgPool2d(in.get(0), 1, 1), x);
        same("adaptive 3x4 (overlapping windows)", in -> dev.phalanx.ops.PoolOps.adaptiveAvgPool2d(in.get(0), 3, 4), x);
        same("adaptive 9x8 (larger than the input)", in -> dev.phalanx.ops.PoolOps.adaptiveAvgPool2d(in.get(0), 9, 8), x);
    }

    // ---- every dtype but float32 pairs: dtypes.cu's typed kernels, against the CPU's dtype and bits

    private static final DType[] DTYPES = {DType.FLOAT64, DType.FLOAT32, DType.FLOAT16, DType.BFLOAT16, DType.INT64, DType.INT32, DType.INT16,
        DType.INT8, DType.UINT8, DType.BOOL};

    /** Values each dtype holds awkwardly: fractions, a zero, values that wrap int8 and uint8 and overflow float16, large int64. */
    private static Tensor awkward(DType dtype, long seed, int... shape) {
        double[] pool = {-3.5, 2, 7.25, -1e10, 0.1, 5e9, 127, 255, -128, 3, 0, 1.5, -70000, 3e18, 0.3333};
        java.util.Random r = new java.util.Random(seed);
        double[] v = new double[Shapes.numel(shape)];
        for (int i = 0; i < v.length; i++) v[i] = pool[r.nextInt(pool.length)];
        return Tensor.ofDoubles(v).view(shape).to(dtype);
    }

    /** float64 values that use all 53 bits (a float32's widened would add and multiply exactly, in any order). */
    private static Tensor doubles(long seed, int... shape) {
        return random(seed, shape).to(DType.FLOAT64).mul(Math.PI / 3);
    }

    /** Same dtype, shape and bits (NaNs equal to NaNs); with {@code bitwise} false, within this test's tolerance instead. */
    private void sameValues(String what, Tensor expected, Tensor actual, boolean bitwise) {
        assertEquals(expected.dtype(), actual.dtype(), what + ": dtype");
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        double[] e = expected.contiguousDoubles(), a = actual.contiguousDoubles();
        for (int i = 0; i < e.length; i++) {
            boolean same = Double.doubleToLongBits(e[i]) == Double.doubleToLongBits(a[i])
                    || (!bitwise && Math.abs(e[i] - a[i]) <= atol() + rtol() * Math.abs(e[i]));
            assertTrue(same, what + " [" + i + "]: expected " + e[i] + ", got " + a[i]);
        }
    }

    /**
     * Runs f on CPU tensors and on their device twins (floating ones require grad); the outputs agree in dtype and bits, and
     * so do the gradients of every floating input after backward of a random upstream gradient; nothing was read back.
     */
    private void sameTyped(String what, boolean bitwise, Function<List<Tensor>, Tensor> f, Tensor... inputs) {
        List<Tensor> cpu = new java.util.ArrayList<>(), dev = new java.util.ArrayList<>();
        for (Tensor t : inputs) {
            boolean grad = t.dtype().isFloatingPoint();
            cpu.add(t.clone().requiresGrad(grad));
            dev.add(t.to(device()).requiresGrad(grad));
        }
        Tensor c = f.apply(cpu), d = f.apply(dev);
        assertEquals(device(), d.device(), what + " ran on the device");
        sameValues(what + " out", c, d.to(Device.CPU), bitwise);
        if (c.gradFn() == null) {
            assertEquals(null, d.gradFn(), what + ": no graph");
        } else {
            assertEquals(c.gradFn().name(), d.gradFn().name(), what + ": the node's name");
            Tensor g = random(99, c.shape()).to(c.dtype());
            c.backward(g);
            d.backward(g.to(device()));
            for (int i = 0; i < inputs.length; i++) {
                if (cpu.get(i).grad() != null) sameValues(what + " grad " + i, cpu.get(i).grad(), dev.get(i).grad().to(Device.CPU), bitwise);
            }
        }
        for (Tensor t : dev) assertEquals(0, ((DeviceStorage) t.storage()).hostCopies(), what + ": an input was read back");
    }

    @Test
    void arithmeticOfEveryDtypePairPromotesAsTheCpuWithItsBits() {
        Map<String, java.util.function.BinaryOperator<Tensor>> ops = new LinkedHashMap<>();
        ops.put("add", Tensor::add);
        ops.put("sub", Tensor::sub);
        ops.put("mul", Tensor::mul);
        ops.put("div", Tensor::div);
        int[][][] shapes = {{{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{2, 1}, {1, 3}}, {{3}, {}}};
        int checked = 0;
        for (DType ta : DTYPES) {
            for (DType tb : DTYPES) {
                for (int[][] s : shapes) {
                    Tensor a = awkward(ta, 1, s[0]), b = awkward(tb, 2, s[1]);
                    for (var op : ops.entrySet()) {
                        String what = op.getKey() + " " + ta + Shapes.str(s[0]) + " " + tb + Shapes.str(s[1]);
                        if (op.getKey().equals("sub") && (ta == DType.BOOL || tb == DType.BOOL)) {
                            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.to(device()).sub(b.to(device())));
                            assertTrue(e.getMessage().contains("Subtraction"), e.getMessage());
                            continue;
                        }
                        sameTyped(what, true, in -> op.getValue().apply(in.get(0), in.get(1)), a, b);
                        checked++;
                    }
                }
            }
        }
        assertEquals(10 * 10 * 4 * 4 - 19 * 4, checked);
    }

    @Test
    void scalarFormsOfEveryDtypeAsTheCpu() {
        for (DType t : DTYPES) {
            Tensor x = awkward(t, 3, 2, 4);
            String n = t.toString();
            if (t != DType.BOOL) {
                sameTyped(n + " add(2.5)", true, in -> in.get(0).add(2.5), x);
                sameTyped(n + " add(2.5f)", true, in -> in.get(0).add(2.5f), x);
                sameTyped(n + " add(3L)", true, in -> in.get(0).add(3L), x);
                sameTyped(n + " sub(1.5)", true, in -> in.get(0).sub(1.5), x);
                sameTyped(n + " sub(4L)", true, in -> in.get(0).sub(4L), x);
                sameTyped(n + " rsub(1f)", true, in -> in.get(0).rsub(1f), x);
                sameTyped(n + " pow(3f)", transcendentalsBitwise(), in -> in.get(0).pow(3f), x);
            }
            sameTyped(n + " mul(-2L)", true, in -> in.get(0).mul(-2L), x);
            sameTyped(n + " mul(0.5)", true, in -> in.get(0).mul(0.5), x);
            sameTyped(n + " mul(0.5f)", true, in -> in.get(0).mul(0.5f), x);
            sameTyped(n + " div(4.0)", true, in -> in.get(0).div(4.0), x);
            sameTyped(n + " div(3L)", true, in -> in.get(0).div(3L), x);
            sameTyped(n + " pow(2f)", true, in -> in.get(0).pow(2f), x);
        }
    }

    @Test
    void unaryFunctionsOfOtherDtypesAsTheCpu() {
        Map<String, Function<Tensor, Tensor>> keep = new LinkedHashMap<>();
        keep.put("neg", Tensor::neg);
        keep.put("abs", Tensor::abs);
        keep.put("relu", Tensor::relu);
        Map<String, Function<Tensor, Tensor>> math = new LinkedHashMap<>();
        math.put("exp", Tensor::exp);
        math.put("sqrt", t -> t.abs().sqrt());
        math.put("log", t -> t.abs().add(0.5).log());
        math.put("sin", Tensor::sin);
        math.put("cos", Tensor::cos);
        math.put("tanh", Tensor::tanh);
        math.put("sigmoid", Tensor::sigmoid);
        math.put("asin", t -> t.tanh().mul(0.9).asin());
        for (DType t : new DType[] {DType.FLOAT64, DType.FLOAT16, DType.BFLOAT16, DType.INT64, DType.INT32, DType.INT8, DType.UINT8}) {
            Tensor x = t == DType.FLOAT64 ? doubles(4, 3, 5).mul(2.0) : t.isFloatingPoint() ? random(4, 3, 5).mul(2f).to(t) : awkward(t, 4, 3, 5);
            for (var f : keep.entrySet()) sameTyped(f.getKey() + " " + t, true, in -> f.getValue().apply(in.get(0)), x);
            for (var f : math.entrySet()) sameTyped(f.getKey() + " " + t, transcendentalsBitwise(), in -> f.getValue().apply(in.get(0)), x);
        }
        Tensor longs = Tensor.ofLongs(Long.MIN_VALUE, -5, 0, 7, Long.MAX_VALUE);
        sameTyped("neg and abs of the int64 extremes (wrapping)", true, in -> in.get(0).neg().add(in.get(0).abs()), longs);
        Device on = device();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tensor.ones(DType.BOOL, 2).to(on).neg());
        assertTrue(e.getMessage().contains("Negation"), e.getMessage());
    }

    @Test
    void float64GradientsThroughMixedGraphsAsTheCpu() {
        Tensor a = doubles(30, 3, 4), b = random(31, 4), c = doubles(32, 3, 1).abs().add(0.5);
        sameTyped("(a64 * b32 - a64 / c64) broadcast", true, in -> in.get(0).mul(in.get(1)).sub(in.get(0).div(in.get(2))), a, b, c);
        sameTyped("a64 + b16 along rows", true, in -> in.get(0).add(in.get(1)), a, random(33, 4).to(DType.FLOAT16));
        sameTyped("f16 * f16 broadcast", true, in -> in.get(0).mul(in.get(1)), random(34, 2, 3).to(DType.FLOAT16), random(35, 3).to(DType.FLOAT16));
        sameTyped("float64 times an int64 tensor", true, in -> in.get(0).mul(in.get(1)), a, awkward(DType.INT64, 36, 4));
        sameTyped("tanh(a64 * 0.5 + 1) * c64", transcendentalsBitwise(), in -> in.get(0).mul(0.5).add(1.0).tanh().mul(in.get(1)), a, c);
    }

    @Test
    void float64SumsAndMeansWholeAndAlongEachDimension() {
        Tensor x = doubles(40, 3, 50, 4);
        for (int d = -1; d < 3; d++) {
            int dim = d;
            sameTyped("sum " + dim, true, in -> in.get(0).sum(dim, false), x);
            sameTyped("mean " + dim + " keepdim", true, in -> in.get(0).mean(dim, true), x);
        }
        // the whole tensor: one block's tree on the device, the CPU's one loop: equal within double rounding, the gradients exactly
        sameTyped("sum", false, in -> in.get(0).sum(), x);
        sameTyped("mean", false, in -> in.get(0).mean(), x);
        Tensor cpu = x.sum(), dev = x.to(device()).sum();
        assertEquals(cpu.doubleItem(), dev.doubleItem(), 1e-12 * Math.abs(cpu.doubleItem()) + 1e-12);
        assertEquals(DType.FLOAT64, dev.dtype());
        sameTyped("sum of float16 along 1", true, in -> in.get(0).sum(1, false), random(41, 4, 9).to(DType.FLOAT16));
        sameTyped("mean of bfloat16", false, in -> in.get(0).mean(), random(42, 4, 9).to(DType.BFLOAT16));
    }

    @Test
    void inPlaceArithmeticOfOtherDtypesAsTheCpu() {
        record Case(String what, DType a, DType b, java.util.function.BiConsumer<Tensor, Tensor> op) { }
        List<Case> cases = List.of(
                new Case("f64 += f32", DType.FLOAT64, DType.FLOAT32, Tensor::add_),
                new Case("f32 (whole) += f64: b read as floats", DType.FLOAT32, DType.FLOAT64, Tensor::add_),
                new Case("f32 (a view) *= f64: in double", DType.FLOAT32, DType.FLOAT64, (x, y) -> x.t().mul_(y.t())),
                new Case("i32 += i64 (wrapping)", DType.INT32, DType.INT64, Tensor::add_),
                new Case("i64 *= i8", DType.INT64, DType.INT8, Tensor::mul_),
                new Case("f16 -= f64", DType.FLOAT16, DType.FLOAT64, Tensor::sub_),
                new Case("f64 /= i64", DType.FLOAT64, DType.INT64, Tensor::div_),
                new Case("f64 add_(0.25f) mul_(-3f)", DType.FLOAT64, DType.FLOAT64, (x, y) -> x.add_(0.25f).mul_(-3f)),
                new Case("i32 add_(5L)", DType.INT32, DType.INT32, (x, y) -> x.add_(5L)),
                new Case("i64 (a view) add_(5L)", DType.INT64, DType.INT64, (x, y) -> x.t().add_(5L)),
                new Case("f16 add_(1.5f)", DType.FLOAT16, DType.FLOAT16, (x, y) -> x.add_(1.5f)));
        for (Case k : cases) {
            Tensor a = awkward(k.a, 50, 3, 3), b = awkward(k.b, 51, 3, 3);
            if (k.b == DType.INT64 && k.what.contains("/=")) b = b.abs().add(1L);
            Tensor cpu = a.clone(), dev = a.to(device());
            k.op.accept(cpu, b);
            k.op.accept(dev, b.to(device()));
            sameValues(k.what, cpu, dev.to(Device.CPU), true);
        }
        Device on = device();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tensor.ones(DType.INT64, 2).to(on).div_(Tensor.ones(DType.INT64, 2).to(on)));
        assertTrue(e.getMessage().contains("can't be cast"), e.getMessage());
    }

    @Test
    void aSmallRegressionTrainsAsOnTheCpu() {
        // y = tanh(x W) . v through matmul, tanh, broadcast mul and sum, mse: every piece above in one graph, three SGD steps
        Tensor x = random(10, 8, 4), w0 = random(11, 4, 6).mul(0.5f), v0 = random(12, 6), y = random(13, 8);
        float[] cpu = train(x, w0, v0, y, Device.CPU), dev = train(x, w0, v0, y, device());
        Golden.assertClose("parameters after 3 steps", Tensor.of(cpu), Tensor.of(dev), atol(), rtol());
    }

    private float[] train(Tensor x0, Tensor w0, Tensor v0, Tensor y0, Device device) {
        Tensor x = x0.to(device), y = y0.to(device);
        Tensor w = w0.clone().to(device).requiresGrad(true), v = v0.clone().to(device).requiresGrad(true);
        for (int step = 0; step < 3; step++) {
            Tensor pred = x.matmul(w).tanh().mul(v).sum(1, false);
            Tensor loss = F.mseLoss(pred, y);
            loss.backward();
            try (var ignored = dev.phalanx.autograd.GradMode.noGrad()) {
                w.sub_(w.grad().mul(0.1f));
                v.sub_(v.grad().mul(0.1f));
            }
            w.grad().zero_();
            v.grad().zero_();
        }
        float[] a = w.detach().to(Device.CPU).data(), b = v.detach().to(Device.CPU).data();
        float[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }
}
