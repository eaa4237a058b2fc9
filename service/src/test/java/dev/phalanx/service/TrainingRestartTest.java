package dev.phalanx.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.typesafe.config.ConfigFactory;

/** Closing the service while a run is on (Ctrl-C on serve) checkpoints it, and the next start continues it, then the queue. */
class TrainingRestartTest {

    static final Duration LIMIT = Duration.ofSeconds(60);

    @TempDir
    Path runs;

    @Test
    void aRunOnAtShutdownIsCheckpointedAndContinuesAtTheNextStart() throws Exception {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "restart-test", ConfigFactory.parseString("pekko.loglevel = WARNING")
                .withFallback(ConfigFactory.load()));
        try {
            Training first = Training.start(system, runs, 1);
            RunRecord run = first.submit(ServiceClient.TINY, Map.of("train.max-steps", 100_000, "train.evaluate", false));
            RunRecord waiting = first.submit(ServiceClient.TINY, Map.of("train.max-steps", 5, "train.evaluate", false));
            await(first, run.id(), r -> r.step() >= 10);
            assertEquals(RunState.QUEUED, first.run(waiting.id()).orElseThrow().state());
            first.close();
            RunRecord closed = first.run(run.id()).orElseThrow();
            assertEquals(RunState.QUEUED, closed.state(), "queued again, to continue at the next start: " + closed);
            assertTrue(closed.resume(), closed.toString());
            assertTrue(Files.isRegularFile(runs.resolve(run.id()).resolve("checkpoints/latest")), "a checkpoint was written at shutdown");
            assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().equals("phalanx-run-" + run.id()) && t.isAlive()),
                    "the run's thread ended");

            Training second = Training.start(system, runs, 1);
            await(second, run.id(), r -> r.state() == RunState.RUNNING && r.step() > closed.step());
            assertTrue(Files.readString(runs.resolve(run.id()).resolve("train.log")).contains("Resuming from"), "continued, not started over");
            assertEquals(RunState.QUEUED, second.run(waiting.id()).orElseThrow().state(), "the queue survived the restart, in its order");
            second.stop(run.id());
            await(second, run.id(), r -> r.state() == RunState.STOPPED);
            await(second, waiting.id(), r -> r.state() == RunState.FINISHED);
            second.close();
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        }
    }

    private static void await(Training t, String id, java.util.function.Predicate<RunRecord> done) throws InterruptedException {
        long end = System.nanoTime() + LIMIT.toNanos();
        while (System.nanoTime() < end) {
            if (done.test(t.run(id).orElseThrow())) return;
            Thread.sleep(20);
        }
        throw new AssertionError("run " + id + " did not get there within " + LIMIT + ": " + t.run(id).orElseThrow());
    }
}
