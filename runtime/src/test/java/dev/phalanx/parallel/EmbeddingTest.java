package dev.phalanx.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.actor.testkit.typed.javadsl.TestProbe;
import org.apache.pekko.actor.typed.ActorRef;
import org.junit.jupiter.api.Test;

import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** Phalanx inside other programs: a service running jobs, and a Pekko user's own ActorSystem. */
class EmbeddingTest {

    /** A small "service" that runs one training job on request. */
    static float runJob(long seed) {
        Generator gen = new Generator(seed);
        try (DataParallel dp = DataParallel.builder(() -> LeNet.cifar(new Generator(seed)))
                .replicas(2).threadsPerReplica(2).optimizer(p -> new SGD(p, 0.01f, 0.9f)).build()) {
            float last = Float.NaN;
            for (int s = 0; s < 5; s++) last = dp.step(Tensor.randn(gen, 16, 3, 32, 32), Tensor.randint(gen, 0, 10, 16)).toCompletableFuture().join();
            return last;
        }
    }

    private static Set<Thread> liveThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).collect(Collectors.toSet());
    }

    @Test
    void twoJobsOneAfterAnotherLeaveNoThreadBehind() throws InterruptedException {
        runJob(1); // loads classes and any JVM-wide threads once
        Set<Thread> before = liveThreads();
        assertTrue(Float.isFinite(runJob(2)));
        assertTrue(Float.isFinite(runJob(3)));
        Set<Thread> left = null;
        for (int i = 0; i < 50; i++) { // threads may take a moment to exit after terminate
            left = liveThreads();
            left.removeAll(before);
            if (left.isEmpty()) break;
            Thread.sleep(100);
        }
        assertEquals(Set.of(), left.stream().map(Thread::getName).collect(Collectors.toSet()), "threads left running after close()");
    }

    @Test
    void theCoordinatorRunsInsideAUsersActorSystem() {
        ActorTestKit kit = ActorTestKit.create();
        try {
            DataParallel.Builder b = DataParallel.builder(() -> LeNet.cifar(new Generator(5))).replicas(2);
            ActorRef<Coordinator.Command> coordinator = kit.spawn(DataParallel.behavior(b.spec(), b.settings()), "phalanx");
            TestProbe<Coordinator.StepOutcome> probe = kit.createTestProbe();
            Generator gen = new Generator(6);
            coordinator.tell(new Coordinator.TrainStep(Tensor.randn(gen, 7, 3, 32, 32), Tensor.randint(gen, 0, 10, 7), probe.getRef()));
            Coordinator.StepOutcome outcome = probe.receiveMessage(Duration.ofSeconds(30));
            assertTrue(outcome.ok(), String.valueOf(outcome.error()));
            assertEquals(List.of(7, 10), List.of(outcome.outputs().size(0), outcome.outputs().size(1)));
            TestProbe<Coordinator.StatesOutcome> states = kit.createTestProbe();
            coordinator.tell(new Coordinator.GetStates(states.getRef()));
            assertEquals(2, states.receiveMessage(Duration.ofSeconds(30)).states().size());
        } finally {
            kit.shutdownTestKit();
        }
    }
}
