package dev.phalanx;

import static dev.phalanx.testing.Golden.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.TreeSet;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.ops.PoolOps;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.testing.Golden;

/**
 * Every op in ops.safetensors, forward and backward, against PyTorch 1.13, on every CPU
 * backend. The kind of each group is recognised from the tensors it holds, and every
 * hyper-parameter is read from the file.
 */
class GoldenOpsTest {

    static java.util.stream.Stream<CpuBackend> backends() {
        return dev.phalanx.testing.Backend.all();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void everyOpMatchesPyTorch(CpuBackend backend) {
        check(backend, false);
    }

    /** Issue #13's reproducible mode: each op on its own one-shard batch, sums along the sample tree. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void everyOpMatchesPyTorchInReproducibleMode(CpuBackend backend) {
        check(backend, true);
    }

    private static void check(CpuBackend backend, boolean reproducible) {
        Map<String, Tensor> g = Golden.load("ops.safetensors");
        TreeSet<String> groups = Golden.groups(g);
        assertFalse(groups.isEmpty(), "ops.safetensors holds no groups");
        int checked = 0;
        try (backend; var scope = Backends.use(backend)) {
            for (String op : groups) {
                String p = op + ".";
                int rows = g.containsKey(p + "x") && g.get(p + "x").dim() > 0 ? g.get(p + "x").size(0) : 0;
                try (var repro = reproducible && rows > 0 ? Reproducible.bind(0, rows, rows) : null) {
                    if (g.containsKey(p + "stride") && g.containsKey(p + "weight")) conv(op, g);
                    else if (g.containsKey(p + "kernel_size")) maxPool(op, g);
                    else if (g.containsKey(p + "a") && g.containsKey(p + "b")) matmul(op, g);
                    else if (g.containsKey(p + "weight")) linear(op, g);
                    else if (g.containsKey(p + "target") && g.get(p + "target").dtype() == dev.phalanx.tensor.DType.INT64) crossEntropy(op, g);
                    else if (g.containsKey(p + "target")) mse(op, g);
                    else if (op.startsWith("relu")) unary(op, g, Tensor::relu);
                    else if (op.startsWith("log_softmax")) unary(op, g, x -> F.logSoftmax(x, -1));
                    else throw new AssertionError("golden group '" + op + "' is of no kind this test knows");
                }
                checked++;
            }
        }
        assertEquals(groups.size(), checked);
    }

    private static Tensor leaf(Map<String, Tensor> g, String name) {
        return g.get(name).clone().requiresGrad(true);
    }

    private static void conv(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x"), w = leaf(g, p + "weight");
        Tensor b = g.containsKey(p + "bias") ? leaf(g, p + "bias") : null;
        long[] stride = g.get(p + "stride").longData(), pad = g.get(p + "padding").longData();
        Tensor out = F.conv2d(x, w, b, (int) stride[0], (int) stride[1], (int) pad[0], (int) pad[1]);
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(g.get(p + "grad_out"));
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
        assertClose(p + "grad_weight", g.get(p + "grad_weight"), w.grad());
        if (b != null) assertClose(p + "grad_bias", g.get(p + "grad_bias"), b.grad());
    }

    private static void maxPool(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x");
        long[] k = g.get(p + "kernel_size").longData(), s = g.get(p + "stride").longData(), pad = g.get(p + "padding").longData();
        PoolOps.MaxPoolResult r = F.maxPool2dWithIndices(x, (int) k[0], (int) k[1], (int) s[0], (int) s[1], (int) pad[0], (int) pad[1]);
        assertClose(p + "out", g.get(p + "out"), r.output(), 0, 0); // max copies input values: exact
        assertClose(p + "indices", g.get(p + "indices"), r.indices(), 0, 0);
        r.output().backward(g.get(p + "grad_out"));
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
    }

    private static void linear(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x"), w = leaf(g, p + "weight"), b = leaf(g, p + "bias");
        Tensor out = F.linear(x, w, b);
        assertEquals("AddmmBackward0", out.gradFn().name());
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(g.get(p + "grad_out"));
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
        assertClose(p + "grad_weight", g.get(p + "grad_weight"), w.grad());
        assertClose(p + "grad_bias", g.get(p + "grad_bias"), b.grad());
    }

    private static void matmul(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor a = leaf(g, p + "a"), b = leaf(g, p + "b");
        Tensor out = a.matmul(b);
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(g.get(p + "grad_out"));
        assertClose(p + "grad_a", g.get(p + "grad_a"), a.grad());
        assertClose(p + "grad_b", g.get(p + "grad_b"), b.grad());
    }

    private static void crossEntropy(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x");
        Tensor out = F.crossEntropy(x, g.get(p + "target"));
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(g.get(p + "grad_out"));
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
    }

    private static void mse(String op, Map<String, Tensor> g) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x"), t = leaf(g, p + "target");
        Tensor out = F.mseLoss(x, t);
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(g.get(p + "grad_out"));
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
        assertClose(p + "grad_target", g.get(p + "grad_target"), t.grad());
    }

    private static void unary(String op, Map<String, Tensor> g, java.util.function.UnaryOperator<Tensor> f) {
        String p = op + ".";
        Tensor x = leaf(g, p + "x");
        Tensor out = f.apply(x);
        assertTrue(out.requiresGrad());
        assertClose(p + "out", g.get(p + "out"), out);
        out.backward(g.get(p + "grad_out"));
        assertClose(p + "grad_x", g.get(p + "grad_x"), x.grad());
    }
}
