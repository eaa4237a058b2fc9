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
 * The PyTorch golden tests of the ops that have device kernels (conv2d, max_pool2d, linear,
 * relu, cross entropy: what LeNet needs), and the golden LeNet step, run on the simulated device
 * with the golden tolerances. The other groups of ops.safetensors (matmul, mse, log_softmax) have
 * no device kernel yet and are counted as not run, not as passed.
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
            else if (g.containsKey(p + "a") && g.containsKey(p + "b")) kind = null;
            else if (g.containsKey(p + "weight")) kind = linear(op, g);
            else if (g.containsKey(p + "target") && g.get(p + "target").dtype() == DType.INT64) kind = crossEntropy(op, g);
            else if (op.startsWith("relu")) kind = relu(op, g);
            else kind = null;
            if (kind == null) notOnDevice.add(op);
            else ran.merge(kind, 1, Integer::sum);
        }
        assertEquals(new TreeSet<>(java.util.List.of("conv2d", "cross_entropy", "linear", "max_pool2d", "relu")), ran.keySet(),
                "each kind with a device kernel ran at least once: " + ran);
        System.out.println(getClass().getSimpleName() + ": on " + device() + ": " + ran + "; no device kernel yet: " + notOnDevice);
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

    private String relu(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x");
        Tensor out = x.relu();
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(on(g, p + "grad_out"));
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
        return "relu";
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
