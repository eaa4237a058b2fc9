package dev.phalanx;

import static dev.phalanx.testing.Golden.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.testing.Golden;

/**
 * The blitz's LeNet on one batch: every activation, the logits, the loss, every gradient, and
 * the parameters after three SGD steps with momentum, against PyTorch 1.13.
 */
class GoldenLeNetTest {

    static java.util.stream.Stream<CpuBackend> backends() {
        return dev.phalanx.testing.Backend.all();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void lenetStepMatchesPyTorch(CpuBackend backend) {
        check(backend, false);
    }

    /** Issue #13's reproducible mode: the batch as one shard, gradients finished from the sample tree. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("backends")
    void lenetStepMatchesPyTorchInReproducibleMode(CpuBackend backend) {
        check(backend, true);
    }

    private static void check(CpuBackend backend, boolean reproducible) {
        Map<String, Tensor> g = Golden.load("lenet_step.safetensors");
        Tensor x = g.get("x"), labels = g.get("labels");
        Tensor conv1w = g.get("param.conv1.weight"), fc1w = g.get("param.fc1.weight"), fc3w = g.get("param.fc3.weight");
        LeNet net = new LeNet(conv1w.size(1), x.size(2), fc3w.size(0), conv1w.size(0), g.get("param.conv2.weight").size(0),
                new Generator(0));
        assertEquals(fc1w.size(1), net.fc1.weight.size(1), "flattened features");
        Map<String, Tensor> params = new LinkedHashMap<>();
        net.stateDict().keySet().forEach(k -> params.put(k, g.get("param." + k)));
        net.loadStateDict(params);
        // the golden file's momentum and learning rate are in config_A.json: lr 0.01, momentum 0.9
        SGD opt = new SGD(net.parameters(), 0.01f, 0.9f);
        int steps = g.get("losses").numel();
        try (backend; var scope = Backends.use(backend); var forward = reproducible ? Reproducible.bind(0, x.size(0), x.size(0)) : null) {
            // activations, layer by layer, as the golden README records them
            Tensor c1 = net.conv1.forward(x);
            assertClose("act.conv1", g.get("act.conv1"), c1);
            Tensor p1 = F.maxPool2d(F.relu(c1), 2);
            assertClose("act.pool1", g.get("act.pool1"), p1);
            Tensor c2 = net.conv2.forward(p1);
            assertClose("act.conv2", g.get("act.conv2"), c2);
            Tensor p2 = F.maxPool2d(F.relu(c2), 2);
            assertClose("act.pool2", g.get("act.pool2"), p2);
            Tensor f1 = F.relu(net.fc1.forward(p2.flatten(1)));
            assertClose("act.fc1", g.get("act.fc1"), f1);
            Tensor f2 = F.relu(net.fc2.forward(f1));
            assertClose("act.fc2", g.get("act.fc2"), f2);
            assertClose("logits", g.get("logits"), net.fc3.forward(f2));

            for (int step = 0; step < steps; step++) {
                // each step its own shard binding: a shard records each parameter's tree pieces once
                try (var repro = reproducible ? Reproducible.bind(0, x.size(0), x.size(0)) : null) {
                    opt.zeroGrad();
                    Tensor logits = net.forward(x);
                    Tensor loss = F.crossEntropy(logits, labels);
                    loss.backward();
                    if (step == 0) {
                        assertClose("logits", g.get("logits"), logits);
                        assertClose("loss", g.get("loss"), loss);
                        for (var e : net.namedParameters().entrySet()) {
                            assertClose("grad." + e.getKey(), g.get("grad." + e.getKey()), e.getValue().grad());
                        }
                    }
                    assertClose("losses[" + step + "]", Tensor.scalar(g.get("losses").data()[step]), Tensor.scalar(loss.item()));
                    opt.step();
                }
            }
        }
        for (var e : net.namedParameters().entrySet()) {
            assertClose("step3." + e.getKey(), g.get("step3." + e.getKey()), e.getValue());
        }
    }
}
