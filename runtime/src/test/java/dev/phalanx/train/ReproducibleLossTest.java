package dev.phalanx.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.parallel.DataParallel;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * Issue #13: in the reproducible mode the logged loss is finished along the sample tree, so 1
 * replica (in the calling thread) and 2, 3, 5 or 8 replicas (even and uneven shards, replicas
 * without rows) report the same bits, step after step.
 */
class ReproducibleLossTest {

    private static final int STEPS = 6;

    @Test
    void everyReplicaCountLogsTheLossBitsOfOne() {
        Generator gen = new Generator(11);
        Tensor[] x = new Tensor[STEPS], y = new Tensor[STEPS];
        for (int s = 0; s < STEPS; s++) {
            x[s] = Tensor.randn(gen, 30, 1, 28, 28).mul(1 + 3 * s); // growing inputs: per-sample losses of many sizes
            y[s] = Tensor.randint(gen, 0, 10, 30);
        }
        int[] one = new int[STEPS];
        try (LocalSteps local = new LocalSteps(new LeNet(1, 28, 10, new Generator(1)), p -> new SGD(p, 0.05f, 0.9f), F::crossEntropy,
                CpuBackend.create(1), true)) {
            for (int s = 0; s < STEPS; s++) one[s] = Float.floatToRawIntBits(local.step(x[s], y[s]).loss());
        }
        for (int n : new int[] {2, 3, 5, 8}) {
            try (DataParallel dp = DataParallel.builder(() -> new LeNet(1, 28, 10, new Generator(1))).replicas(n).reproducible(true)
                    .optimizer(p -> new SGD(p, 0.05f, 0.9f)).build()) {
                for (int s = 0; s < STEPS; s++) {
                    float loss = dp.step(x[s], y[s]).toCompletableFuture().join();
                    assertEquals(one[s], Float.floatToRawIntBits(loss), n + " replicas, step " + s + ": " + loss + " against 1 replica's "
                            + Float.intBitsToFloat(one[s]));
                }
            }
        }
    }
}
