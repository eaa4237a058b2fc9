package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * Whole training steps of LeNet (every op of a step: convolution, ReLU, max pooling, Linear,
 * cross entropy, SGD) give the same bits on 1 and 2 threads, on either kernel set. The batch is
 * large enough (and odd, so chunks are uneven) that the kernels do split their loops over two
 * threads; the op-level golden tests check the values against PyTorch.
 */
class ThreadCountTest {

    private static final int BATCH = 45;
    private static final int STEPS = 3;

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = CpuBackend.Kernels.class, names = {"JAVA", "AUTO"})
    void trainingStepsGiveTheSameBitsOnOneAndTwoThreads(CpuBackend.Kernels kernels) {
        Map<String, Tensor> one = train(1, kernels), two = train(2, kernels);
        assertEquals(one.keySet(), two.keySet());
        for (String k : one.keySet()) {
            assertArrayEquals(one.get(k).contiguousFloats(), two.get(k).contiguousFloats(), k + " after " + STEPS + " steps");
        }
    }

    private static Map<String, Tensor> train(int threads, CpuBackend.Kernels kernels) {
        Generator gen = new Generator(7);
        LeNet net = new LeNet(3, 32, 10, new Generator(0));
        SGD opt = new SGD(net.parameters(), 0.01f, 0.9f);
        Tensor x = Tensor.randn(gen, BATCH, 3, 32, 32), y = Tensor.randint(gen, 0, 10, BATCH);
        try (CpuBackend backend = CpuBackend.create(threads, kernels); var scope = Backends.use(backend)) {
            for (int s = 0; s < STEPS; s++) {
                opt.zeroGrad();
                F.crossEntropy(net.forward(x), y).backward();
                opt.step();
            }
        }
        return new LinkedHashMap<>(net.stateDict());
    }
}
