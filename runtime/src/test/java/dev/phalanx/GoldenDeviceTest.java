package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.Device;
import dev.phalanx.nn.F;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.ops.PoolOps;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.testing.Golden;

/**
 * The PyTorch golden tests on a device: every group of ops.safetensors (conv2d, max_pool2d,
 * linear, matmul, relu, log_softmax, cross entropy, mse_loss), forward and backward; the float32
 * cases of dtypes.safetensors (elementwise arithmetic with broadcasting, a tensor and a Python
 * scalar, sums), its conversions, comparisons, integer sums and views (exactly); and the golden
 * LeNet step; on the simulated device with the golden tolerances. A golden group of a kind this test does not know fails it, so a new golden case
 * cannot go without a device run unnoticed.
 */
class GoldenDeviceTest {

    /** The device the tests run on: {@code sim:2} here, {@code cuda:0} in {@link GoldenCudaGpuTest}. */
    protected Device device() {
        return Device.sim(2);
    }

    /** The golden tolerances: the CPU's on the simulated device (it computes with the CPU kernels), 1e-4 relative on a GPU. */
    protected double atol() {
        return Golden.ATOL;
    }

    protected double rtol() {
        return Golden.RTOL;
    }

    private Tensor leaf(Map<String, Tensor> g, String name) {
        return g.get(name).to(device()).requiresGrad(true);
    }

    private Tensor on(Map<String, Tensor> g, String name) {
        return g.get(name).to(device());
    }

    private void assertClose(String what, Tensor expected, Tensor onDevice) {
        assertEquals(device(), onDevice.device(), what + " ran on the device");
        Golden.assertClose(what, expected, onDevice.to(Device.CPU), atol(), rtol());
    }

    @Test
    void theOpsWithDeviceKernelsMatchPyTorch() {
        Map<String, Tensor> g = Golden.load("ops.safetensors");
        Map<String, Integer> ran = new TreeMap<>();
        TreeSet<String> notOnDevice = new TreeSet<>();
        for (String op : Golden.groups(g)) {
            String p = op + ".";
            String kind;
            if (g.containsKey(p + "stride") && g.containsKey(p + "weight")) kind = conv(op, g);
            else if (g.containsKey(p + "kernel_size")) kind = maxPool(op, g);
            else if (g.containsKey(p + "a") && g.containsKey(p + "b")) kind = matmul(op, g);
            else if (g.containsKey(p + "weight")) kind = linear(op, g);
            else if (g.containsKey(p + "target") && g.get(p + "target").dtype() == DType.INT64) kind = crossEntropy(op, g);
            else if (g.containsKey(p + "target")) kind = mse(op, g);
            else if (op.startsWith("relu")) kind = unary(op, g, "relu", Tensor::relu);
            else if (op.startsWith("log_softmax")) kind = unary(op, g, "log_softmax", x -> F.logSoftmax(x, -1));
            else kind = null;
            if (kind == null) notOnDevice.add(op);
            else ran.merge(kind, 1, Integer::sum);
        }
        System.out.println(getClass().getSimpleName() + ": on " + device() + ": " + ran + "; no device run: " + notOnDevice);
        assertEquals(new TreeSet<>(), notOnDevice, "golden groups of ops.safetensors of a kind with no device run");
        assertEquals(new TreeSet<>(java.util.List.of("conv2d", "cross_entropy", "linear", "log_softmax", "matmul", "max_pool2d", "mse_loss", "relu")),
                ran.keySet(), "each kind ran at least once: " + ran);
    }

    private String conv(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x"), w = leaf(g, p + "weight");
        Tensor b = g.containsKey(p + "bias") ? leaf(g, p + "bias") : null;
        long[] stride = g.get(p + "stride").longData(), pad = g.get(p + "padding").longData();
        Tensor out = F.conv2d(x, w, b, (int) stride[0], (int) stride[1], (int) pad[0], (int) pad[1]);
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(on(g, p + "grad_out"));
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
        assertClose(p + "grad_weight", g.get(p + "grad_weight"), w.grad());
        if (b != null) assertClose(p + "grad_bias", g.get(p + "grad_bias"), b.grad());
        return "conv2d";
    }

    private String maxPool(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x");
        long[] k = g.get(p + "kernel_size").longData(), s = g.get(p + "stride").longData(), pad = g.get(p + "padding").longData();
        PoolOps.MaxPoolResult r = F.maxPool2dWithIndices(x, (int) k[0], (int) k[1], (int) s[0], (int) s[1], (int) pad[0], (int) pad[1]);
        Golden.assertClose(p + "out", g.get(p + "out"), r.output().to(Device.CPU), 0, 0); // max copies input values: exact everywhere
        Golden.assertClose(p + "indices", g.get(p + "indices"), r.indices().to(Device.CPU), 0, 0); // int32 on the device
        r.output().backward(on(g, p + "grad_out"));
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
        return "max_pool2d";
    }

    private String linear(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x"), w = leaf(g, p + "weight"), b = leaf(g, p + "bias");
        Tensor out = F.linear(x, w, b);
        assertEquals("AddmmBackward0", out.gradFn().name());
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(on(g, p + "grad_out"));
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
        assertClose(p + "grad_weight", g.get(p + "grad_weight"), w.grad());
        assertClose(p + "grad_bias", g.get(p + "grad_bias"), b.grad());
        return "linear";
    }

    private String unary(String op, Map<String, Tensor> g, String kind, java.util.function.UnaryOperator<Tensor> f) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x");
        Tensor out = f.apply(x);
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(on(g, p + "grad_out"));
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
        return kind;
    }

    private String matmul(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor a = leaf(g, p + "a"), b = leaf(g, p + "b");
        Tensor out = a.matmul(b);
        assertEquals("MmBackward0", out.gradFn().name());
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(on(g, p + "grad_out"));
        assertClose(p + "grad_a", g.get(p + "grad_a"), a.grad());
        assertClose(p + "grad_b", g.get(p + "grad_b"), b.grad());
        return "matmul";
    }

    private String mse(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x"), t = leaf(g, p + "target");
        Tensor out = F.mseLoss(x, t);
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(on(g, p + "grad_out")); // an upstream gradient other than 1: read on the device
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
        assertClose(p + "grad_target", g.get(p + "grad_target"), t.grad());
        return "mse_loss";
    }

    private String crossEntropy(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x");
        Tensor loss = F.crossEntropy(x, on(g, p + "target"));
        assertClose(p + "out", g.get(p + "out"), loss);
        loss.backward(on(g, p + "grad_out")); // an upstream gradient other than 1: scaled on the device
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
        return "cross_entropy";
    }

    /** The float32 cases of dtypes.safetensors (small integers: exact on the CPU), on the device. */
    @Test
    void theFloat32DtypeCasesMatchPyTorch() {
        Map<String, Tensor> g = Golden.load("dtypes.safetensors");
        Map<String, java.util.function.BinaryOperator<Tensor>> binary = new LinkedHashMap<>();
        binary.put("add", Tensor::add);
        binary.put("sub", Tensor::sub);
        binary.put("mul", Tensor::mul);
        binary.put("div", Tensor::div);
        Tensor a = on(g, "in.a.F32"), b = on(g, "in.b.F32"), s = on(g, "in.s.F32");
        int checked = 0;
        for (var e : binary.entrySet()) {
            assertClose(e.getKey() + ".F32.F32", g.get(e.getKey() + ".F32.F32"), e.getValue().apply(a, b));
            checked++;
        }
        assertClose("add0.F32.F32", g.get("add0.F32.F32"), a.add(s)); // a 0-d tensor broadcast
        assertClose("addfloat.F32", g.get("addfloat.F32"), a.add(2.5));
        assertClose("addint.F32", g.get("addint.F32"), a.add(3L));
        assertClose("mulint.F32", g.get("mulint.F32"), a.mul(3L));
        assertClose("sum.F32", g.get("sum.F32"), a.sum());
        assertClose("sum0.F32", g.get("sum0.F32"), Tensor.cat(java.util.List.of(a.unsqueeze(0), a.unsqueeze(0)), 0).sum(0, false)); // torch.stack
        checked += 6;
        assertEquals(10, checked);
    }

    /** The dtypes the device kernels take (every one), by their safetensors codes. */
    private static final java.util.List<String> DEVICE_DTYPES = java.util.List.of("F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8",
            "BOOL");

    /**
     * dtypes.safetensors on the device: every conversion between the device's dtypes, the comparisons
     * (lt, eq) of every pair of them, integer and bool sums, and the views of its view group made
     * contiguous, and written through (a gather, copies and in-place ops into strided views). Exact:
     * conversions, comparisons and copies have one right answer.
     */
    @Test
    void theConversionsComparisonsAndViewsMatchPyTorch() {
        Map<String, Tensor> g = Golden.load("dtypes.safetensors");
        int checked = 0;
        for (String from : DEVICE_DTYPES) {
            Tensor src = on(g, "conv.first." + from);
            for (String to : DEVICE_DTYPES) {
                Tensor r = src.to(DType.fromSafetensors(to));
                assertEquals(device(), r.device());
                exact("conv." + from + "." + to, g, r);
                checked++;
            }
            Tensor a = on(g, "in.a." + from);
            for (String kb : DEVICE_DTYPES) {
                Tensor b = on(g, "in.b." + kb);
                exact("lt." + from + "." + kb, g, a.lt(b));
                exact("eq." + from + "." + kb, g, a.eq(b));
                checked += 2;
            }
            if (!DType.fromSafetensors(from).isFloatingPoint()) {
                exact("sum." + from, g, a.sum());
                exact("sum0." + from, g, Tensor.cat(java.util.List.of(a.unsqueeze(0), a.unsqueeze(0)), 0).sum(0, false));
                checked += 2;
            }
        }
        for (String k : new String[] {"I8", "U8", "I16", "I32", "I64"}) {
            exact("wrap.sum." + k, g, on(g, "wrap.in." + k).sum());
            checked++;
        }
        Tensor x = on(g, "view.x");
        exact("view.select", g, x.select(1, 1).contiguous());
        exact("view.permute", g, x.permute(2, 0, 1).contiguous());
        exact("view.slice", g, x.slice(2, 1, 4, 2).contiguous());
        exact("view.reshape_t", g, x.transpose(1, 2).reshape(2, 12));
        exact("view.expand_sum", g, x.narrow(1, 0, 1).expand(2, 3, 4).sum(0, false));
        exact("view.t_view_split", g, x.permute(1, 0, 2).view(3, 2, 2, 2).contiguous());
        Tensor y = x.clone();
        try (var ignored = dev.phalanx.autograd.GradMode.noGrad()) {
            y.select(1, 1).fill_(0); // y[:, 1] = 0
            y.transpose(0, 2).select(0, 1).add_(100f); // y.transpose(0, 2)[1] += 100
            y.slice(2, 0, 4, 2).mul_(-1f); // y[..., ::2] *= -1
            y.narrow(1, 2, 1).copy_(Tensor.of(7f, 8f, 9f, 10f)); // y.narrow(1, 2, 1).copy_(tensor([7., 8., 9., 10.]))
        }
        exact("write.result", g, y);
        checked += 7;
        exact("half.F16", g, on(g, "half.src").to(DType.FLOAT16)); // round to nearest even, ties, overflow, subnormals
        exact("half.BF16", g, on(g, "half.src").to(DType.BFLOAT16));
        exact("half.F16.up", g, on(g, "half.F16").to(DType.FLOAT32));
        exact("half.BF16.up", g, on(g, "half.BF16").to(DType.FLOAT32));
        checked += 4;
        assertEquals(DEVICE_DTYPES.size() * DEVICE_DTYPES.size() * 3 + 6 * 2 + 5 + 7 + 4, checked);
    }

    /**
     * dtypes.safetensors' arithmetic on the device, exactly: add, sub, mul and div of every pair of the 10 dtypes (PyTorch's
     * promotion and bits; the pairs PyTorch refuses are absent from the file), a 0-d operand of each dtype, Python scalars,
     * float sums and integer wrapping.
     */
    @Test
    void theArithmeticOfEveryDtypePairMatchesPyTorch() {
        Map<String, Tensor> g = Golden.load("dtypes.safetensors");
        Map<String, java.util.function.BinaryOperator<Tensor>> ops = new LinkedHashMap<>();
        ops.put("add", Tensor::add);
        ops.put("sub", Tensor::sub);
        ops.put("mul", Tensor::mul);
        ops.put("div", Tensor::div);
        int checked = 0;
        for (String ka : DEVICE_DTYPES) {
            Tensor a = on(g, "in.a." + ka);
            for (String kb : DEVICE_DTYPES) {
                Tensor b = on(g, "in.b." + kb);
                for (var op : ops.entrySet()) {
                    String name = op.getKey() + "." + ka + "." + kb;
                    if (!g.containsKey(name)) continue;
                    exact(name, g, op.getValue().apply(a, b));
                    checked++;
                }
                exact("add0." + ka + "." + kb, g, a.add(on(g, "in.s." + kb)));
                checked++;
            }
            exact("addint." + ka, g, a.add(3L));
            exact("addfloat." + ka, g, a.add(2.5));
            if (g.containsKey("mulint." + ka)) exact("mulint." + ka, g, a.mul(3L));
            if (DType.fromSafetensors(ka).isFloatingPoint()) { // the integer sums are in theConversionsComparisonsAndViewsMatchPyTorch
                exact("sum." + ka, g, a.sum());
                exact("sum0." + ka, g, Tensor.cat(java.util.List.of(a.unsqueeze(0), a.unsqueeze(0)), 0).sum(0, false));
            }
        }
        for (String k : new String[] {"I8", "U8", "I16", "I32", "I64"}) {
            Tensor x = on(g, "wrap.in." + k);
            exact("wrap.mul3." + k, g, x.mul(3L));
            exact("wrap.add." + k, g, x.add(x));
        }
        assertEquals(4 * 100 - 19 + 100, checked, "every pair was compared");
    }

    /** Same dtype, shape and values (an infinity equal to itself, NaN to NaN). */
    private void exact(String name, Map<String, Tensor> g, Tensor onDevice) {
        assertEquals(device(), onDevice.device(), name + " ran on the device");
        Tensor expected = g.get(name), actual = onDevice.to(Device.CPU);
        assertEquals(expected.dtype(), actual.dtype(), name + ": dtype");
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected.shape(), actual.shape(), name + ": shape");
        double[] e = expected.contiguousDoubles(), a = actual.contiguousDoubles();
        for (int i = 0; i < e.length; i++) {
            assertTrue(e[i] == a[i] || (Double.isNaN(e[i]) && Double.isNaN(a[i])), name + " [" + i + "]: expected " + e[i] + ", got " + a[i]);
        }
    }

    @Test
    void theLenetStepMatchesPyTorch() {
        Map<String, Tensor> g = Golden.load("lenet_step.safetensors");
        Device dev = device();
        Tensor x = g.get("x").to(dev), labels = g.get("labels").to(dev);
        Tensor conv1w = g.get("param.conv1.weight"), fc3w = g.get("param.fc3.weight");
        LeNet net = new LeNet(conv1w.size(1), x.size(2), fc3w.size(0), conv1w.size(0), g.get("param.conv2.weight").size(0), new Generator(0));
        Map<String, Tensor> params = new LinkedHashMap<>();
        net.stateDict().keySet().forEach(k -> params.put(k, g.get("param." + k)));
        net.loadStateDict(params);
        net.to(dev);
        SGD opt = new SGD(net.parameters(), 0.01f, 0.9f); // config_A.json: lr 0.01, momentum 0.9
        int steps = g.get("losses").numel();
        for (int step = 0; step < steps; step++) {
            opt.zeroGrad();
            Tensor logits = net.forward(x);
            Tensor loss = F.crossEntropy(logits, labels);
            loss.backward();
            if (step == 0) {
                assertClose("logits", g.get("logits"), logits);
                assertClose("loss", g.get("loss"), loss);
                for (var e : net.namedParameters().entrySet()) assertClose("grad." + e.getKey(), g.get("grad." + e.getKey()), e.getValue().grad());
            }
            Golden.assertClose("losses[" + step + "]", Tensor.scalar(g.get("losses").data()[step]), Tensor.scalar(loss.item()), atol(), rtol());
            opt.step();
        }
        for (var e : net.namedParameters().entrySet()) assertClose("step3." + e.getKey(), g.get("step3." + e.getKey()), e.getValue());
        assertTrue(steps >= 3, "the golden file holds " + steps + " steps");
    }
}
