package dev.phalanx.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import dev.phalanx.nn.Linear;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** close() with steps still pending fails each of them at once, instead of leaving its caller waiting. */
class DataParallelCloseTest {

    @Test
    void closeFailsEveryPendingStepPromptly() throws Exception {
        CountDownLatch inStep = new CountDownLatch(1), release = new CountDownLatch(1);
        ReplicaFaults stuck = new ReplicaFaults() {
            @Override
            public void beforeCompute(int replica, long step) throws InterruptedException {
                if (replica == 0) {
                    inStep.countDown();
                    release.await(20, TimeUnit.SECONDS); // a step far slower than the test waits for; released at the end
                }
            }
        };
        DataParallel dp = DataParallel.builder(() -> new Linear(4, 2, new Generator(0))).replicas(2)
                .optimizer(p -> new SGD(p, 0.1f)).loss(dev.phalanx.nn.F::mseLoss)
                .stepTimeout(Duration.ofSeconds(60)).faults(stuck).build();
        List<CompletableFuture<Float>> steps = new ArrayList<>();
        try {
            for (int i = 0; i < 3; i++) steps.add(dp.step(Tensor.ones(4, 4), Tensor.zeros(4, 2)).toCompletableFuture());
            assertTrue(inStep.await(20, TimeUnit.SECONDS), "the first step started");
            long start = System.nanoTime();
            Thread closer = new Thread(dp::close, "closer");
            closer.start();
            for (CompletableFuture<Float> f : steps) {
                ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(5, TimeUnit.SECONDS));
                assertInstanceOf(IllegalStateException.class, e.getCause());
                assertEquals("this DataParallel runtime was closed while the call was pending", e.getCause().getMessage());
            }
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(5), "failed within 5 s");
            release.countDown();
            closer.join(30_000);
            assertTrue(!closer.isAlive(), "close() returned");
            ExecutionException after = assertThrows(ExecutionException.class,
                    () -> dp.step(Tensor.ones(4, 4), Tensor.zeros(4, 2)).toCompletableFuture().get(5, TimeUnit.SECONDS));
            assertEquals("this DataParallel runtime is closed", after.getCause().getMessage());
        } finally {
            release.countDown();
            dp.close();
        }
    }
}
