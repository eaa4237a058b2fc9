package dev.phalanx.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.concurrent.CompletionException;

import org.junit.jupiter.api.Test;

import dev.phalanx.nn.BatchNorm2d;
import dev.phalanx.nn.Conv2d;
import dev.phalanx.nn.Flatten;
import dev.phalanx.nn.Linear;
import dev.phalanx.nn.Sequential;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** {@code DataParallel.builder(...).reproducible(true)}: bitwise for LeNet, a clear refusal where it cannot be exact. */
class ReproducibleRefusalTest {

    @Test
    void theBuilderSwitchGivesTheBitsOfOneReplica() {
        Generator gen = new Generator(5);
        Tensor x = Tensor.randn(gen, 13, 1, 28, 28), y = Tensor.randint(gen, 0, 10, 13);
        Map<String, Tensor> one = null;
        for (int n : new int[] {1, 3, 4}) {
            try (DataParallel dp = DataParallel.builder(() -> new LeNet(1, 28, 10, new Generator(1))).replicas(n).reproducible(true)
                    .optimizer(p -> new SGD(p, 0.05f, 0.9f)).build()) {
                for (int s = 0; s < 4; s++) dp.step(x, y).toCompletableFuture().join();
                Map<String, Tensor> state = dp.stateDict();
                if (one == null) one = state;
                else for (String k : one.keySet()) assertArrayEquals(one.get(k).data(), state.get(k).data(), 0f, n + " replicas: " + k);
            }
        }
    }

    @Test
    void aModelWithBatchNormIsRefusedWithTheReason() {
        Generator gen = new Generator(5);
        Tensor x = Tensor.randn(gen, 6, 1, 8, 8), y = Tensor.randint(gen, 0, 3, 6);
        try (DataParallel dp = DataParallel.builder(() -> new Sequential(new Conv2d(1, 2, 3, new Generator(1)), new BatchNorm2d(2),
                new Flatten(), new Linear(72, 3, new Generator(2)))).replicas(2).reproducible(true).build()) {
            RuntimeException e = assertThrows(RuntimeException.class, () -> dp.step(x, y).toCompletableFuture().join());
            Throwable reason = e instanceof CompletionException ? e.getCause() : e; // the step fails with the replica's error
            assertTrue(reason.getMessage().contains("does not sum over samples along the tree"), reason.getMessage());
        }
    }
}
