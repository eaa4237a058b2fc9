package dev.phalanx;

import static dev.phalanx.testing.Golden.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import java.util.function.Function;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.phalanx.optim.Adam;
import dev.phalanx.optim.AdamW;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.optim.RMSprop;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.testing.Golden;

/** Each optimizer configuration of optim.safetensors: five steps with fixed gradients. */
class GoldenOptimTest {

    static List<Arguments> configs() {
        return List.of(
                Arguments.of("sgd", (Function<List<Tensor>, Optimizer>) p -> new SGD(p, 0.1f)),
                Arguments.of("sgd_momentum", (Function<List<Tensor>, Optimizer>) p -> new SGD(p, 0.1f, 0.9f)),
                Arguments.of("sgd_nesterov_wd", (Function<List<Tensor>, Optimizer>) p -> new SGD(p, 0.1f, 0.9f, 0f, 0.01f, true)),
                Arguments.of("adam", (Function<List<Tensor>, Optimizer>) p -> new Adam(p, 0.01f)),
                Arguments.of("adam_wd", (Function<List<Tensor>, Optimizer>) p -> new Adam(p, 0.01f, 0.9f, 0.999f, 1e-8f, 0.01f)),
                Arguments.of("adamw", (Function<List<Tensor>, Optimizer>) p -> new AdamW(p, 0.01f)),
                Arguments.of("rmsprop", (Function<List<Tensor>, Optimizer>) p -> new RMSprop(p, 0.01f)),
                Arguments.of("rmsprop_momentum", (Function<List<Tensor>, Optimizer>) p -> new RMSprop(p, 0.01f, 0.99f, 1e-8f, 0f, 0.9f, false)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void followsTorchOptim(String name, Function<List<Tensor>, Optimizer> make) {
        Map<String, Tensor> g = Golden.load("optim.safetensors");
        Tensor expected = g.get(name);
        Tensor grads = g.get("grads");
        Tensor p = g.get("p0").clone().requiresGrad(true);
        Optimizer opt = make.apply(List.of(p));
        int steps = expected.size(0);
        assertEquals(grads.size(0), steps);
        for (int k = 0; k < steps; k++) {
            p.setGrad(grads.select(0, k));
            opt.step();
            assertClose(name + " after step " + (k + 1), expected.select(0, k), p.detach(), 1e-6, 1e-5);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void stateDictResumesExactly(String name, Function<List<Tensor>, Optimizer> make) {
        Map<String, Tensor> g = Golden.load("optim.safetensors");
        Tensor grads = g.get("grads");
        Tensor a = g.get("p0").clone().requiresGrad(true);
        Optimizer straight = make.apply(List.of(a));
        for (int k = 0; k < grads.size(0); k++) {
            a.setGrad(grads.select(0, k));
            straight.step();
        }
        Tensor b = g.get("p0").clone().requiresGrad(true);
        Optimizer first = make.apply(List.of(b));
        for (int k = 0; k < 2; k++) {
            b.setGrad(grads.select(0, k));
            first.step();
        }
        Optimizer resumed = make.apply(List.of(b));
        resumed.loadStateDict(first.stateDict());
        for (int k = 2; k < grads.size(0); k++) {
            b.setGrad(grads.select(0, k));
            resumed.step();
        }
        assertClose(name + " resumed", a.detach(), b.detach(), 0, 0);
    }
}
