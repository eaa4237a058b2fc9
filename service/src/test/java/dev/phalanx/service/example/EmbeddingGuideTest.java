package dev.phalanx.service.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;

import dev.phalanx.service.EventLog;
import dev.phalanx.service.RunEvent;
import dev.phalanx.service.RunRecord;
import dev.phalanx.service.Training;

/**
 * The README's embedding guide, as a test to copy: Phalanx added to an existing Pekko
 * service's ActorSystem, a job started, its progress watched, the job stopped, and the
 * service shut down without leaving a thread behind. Only public API is used.
 */
class EmbeddingGuideTest {

    static final Duration LIMIT = Duration.ofSeconds(60);

    @TempDir
    Path runs;

    @Test
    void phalanxInsideAnExistingPekkoService() throws Exception {
        Set<String> threadsBefore = threadNames();

        // 1. The service's ActorSystem. Its own config comes first; ConfigFactory.load() merges in every
        //    reference.conf on the classpath, Phalanx's among them: the replica dispatcher, which gives
        //    each replica a pinned thread of its own (one dispatcher thread per replica).
        Config config = ConfigFactory.parseString("my-service.greeting = hello\npekko.loglevel = WARNING")
                .withFallback(ConfigFactory.load());
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "my-service", config);
        assertEquals("PinnedDispatcher", system.settings().config().getString("phalanx.replica-dispatcher.type"));

        // 2. Phalanx's run queue in that system; each run's coordinator is spawned from DataParallel.behavior(...).
        Training training = Training.start(system, runs, 1);

        // 3. A job: a recipe's HOCON text and overrides, checked as `phalanx train` checks a file.
        RunRecord run = training.submit("""
                model = fashion-lenet
                data.set = fashion-mnist-sample
                train { batch-size = 16, metrics-every = 5, evaluate = false }
                runtime.replicas = 2
                """, Map.of("train.max-steps", 100_000));

        // 4. Progress: every event so far, then each new one, in order.
        BlockingQueue<RunEvent> events = new LinkedBlockingQueue<>();
        training.events(run.id()).orElseThrow().subscribe(new EventLog.Subscriber() {
            @Override
            public boolean offer(RunEvent e) {
                return events.add(e);
            }

            @Override
            public void complete() { }
        });
        RunEvent e;
        do {
            e = events.poll(LIMIT.toSeconds(), TimeUnit.SECONDS);
            assertTrue(e != null, "no progress within " + LIMIT);
        } while (!e.type().equals("metrics"));
        assertTrue(e.json().contains("\"loss\""), e.json());
        long replicaThreads = threadNames().stream().filter(n -> n.contains("phalanx.replica-dispatcher")).count();
        assertEquals(2, replicaThreads, "one pinned dispatcher thread per replica: " + threadNames());

        // 5. Stop: the run writes a checkpoint, then its state is `stopped` (resume(id) would continue it).
        training.stop(run.id());
        do {
            e = events.poll(LIMIT.toSeconds(), TimeUnit.SECONDS);
            assertTrue(e != null, "not stopped within " + LIMIT);
        } while (!e.json().contains("\"state\":\"stopped\""));
        assertEquals("stopped", training.run(run.id()).orElseThrow().state().json());

        // 6. Shut down: Phalanx first (a running run would checkpoint and resume at the next start), then the system.
        training.close();
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);

        long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        Set<String> left;
        do {
            left = threadNames();
            left.removeAll(threadsBefore);
            left.removeIf(n -> n.startsWith("ForkJoinPool.commonPool")); // the JVM's shared pool, not ours
            left.remove("JavaCPP Deallocator"); // one per JVM, started by the native libraries' first use, not per run
            if (left.isEmpty()) break;
            Thread.sleep(100);
        } while (System.nanoTime() < end);
        assertEquals(Set.of(), left, "threads left behind by the service and Phalanx");
    }

    private static Set<String> threadNames() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName).collect(Collectors.toSet());
    }
}
