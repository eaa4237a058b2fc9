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
