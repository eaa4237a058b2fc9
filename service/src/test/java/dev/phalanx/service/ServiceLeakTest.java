package dev.phalanx.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.typesafe.config.ConfigFactory;

/** 20 runs one after another through the API: the service's threads and heap end where they started. */
class ServiceLeakTest {

    static final int RUNS = 20;
    /** Heap growth allowed for 20 run records and event logs; one leaked data set (3 MB) or model per run would pass it. */
    static final long HEAP_SLACK_BYTES = 8L << 20;
    static final Duration SETTLE = Duration.ofSeconds(20);

    @TempDir
    Path runs;

    @Test
    void afterTwentyRunsTheThreadsAndTheHeapAreBackWhereTheyStarted() throws Exception {
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "leak-test", ConfigFactory.parseString("pekko.loglevel = WARNING")
                .withFallback(ConfigFactory.load()));
        try (PhalanxServer server = PhalanxServer.start(system, new PhalanxServer.Settings("127.0.0.1", 0, runs, 1, "t", null, null),
                new PrintStream(new ByteArrayOutputStream(), true))) {
            ServiceClient api = new ServiceClient(server.port(), "t");
            Map<String, Object> tiny = Map.of("train.max-steps", 3, "runtime.replicas", 2, "train.evaluate", false);
            // one run first, so that class loading, the JIT and the thread pools' first threads are not counted
            api.awaitState(api.submit(ServiceClient.TINY, tiny), Duration.ofSeconds(60), "finished");
            Set<String> before = settledThreads(Set.of());
            long heapBefore = usedHeapAfterGc();

            for (int i = 0; i < RUNS; i++) {
                String id = api.submit(ServiceClient.TINY, tiny);
                assertEquals("finished", api.awaitState(id, Duration.ofSeconds(60), "finished", "failed").get("state").asText());
            }
            Set<String> after = settledThreads(before);
            long heapAfter = usedHeapAfterGc();
            System.out.println("ServiceLeakTest: threads counted " + counted(before) + " -> " + counted(after) + ", heap after GC "
                    + heapBefore / 1024 + " -> " + heapAfter / 1024 + " KiB over " + RUNS + " runs");
            Set<String> extra = new TreeSet<>(after);
            extra.removeAll(before);
            assertTrue(counted(after) <= counted(before), "threads: " + counted(before) + " before, " + counted(after) + " after; new: " + extra);
            assertTrue(extra.stream().noneMatch(n -> n.startsWith("phalanx-") || n.contains("replica-dispatcher")), "Phalanx threads left: " + extra);
            assertTrue(heapAfter - heapBefore < HEAP_SLACK_BYTES, "heap after a full GC grew by " + (heapAfter - heapBefore) / 1024 + " KiB over "
                    + RUNS + " runs (" + heapBefore / 1024 + " -> " + heapAfter / 1024 + " KiB)");
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    /**
     * Threads that a leak would add to. Not the workers of the ActorSystem's default dispatcher
     * and of the JVM's common pool: fork-join pools of a bounded size that grow and shrink with
     * load (the HTTP server and the ask replies run there), not with the number of runs; nor the
     * test's own HTTP client's workers.
     */
    private static long counted(Set<String> names) {
        return names.stream().filter(n -> !n.contains("pekko.actor.default-dispatcher-") && !n.startsWith("ForkJoinPool.commonPool-worker-")
                && !n.startsWith("HttpClient-")).count();
    }

    /** The live threads' names once no more than {@code target}'s count remain (a pinned replica thread ends a moment after its actor). */
    private static Set<String> settledThreads(Set<String> target) throws InterruptedException {
        long end = System.nanoTime() + SETTLE.toNanos();
        Set<String> names;
        do {
            names = Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(t -> t.getName() + "#" + t.getId())
                    .collect(Collectors.toCollection(TreeSet::new));
            boolean phalanxLeft = names.stream().anyMatch(n -> n.startsWith("phalanx-run-") || n.contains("replica-dispatcher")
                    || n.startsWith("phalanx-cpu-") || n.startsWith("phalanx-loader-"));
            if (!phalanxLeft && (target.isEmpty() || counted(names) <= counted(target))) return names;
            Thread.sleep(100);
        } while (System.nanoTime() < end);
        return names;
    }

    private static long usedHeapAfterGc() throws InterruptedException {
        MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
        long used = Long.MAX_VALUE;
        for (int i = 0; i < 5; i++) { // the least of a few full collections: finalizers and soft caches settle
            System.gc();
            Thread.sleep(100);
            used = Math.min(used, mem.getHeapMemoryUsage().getUsed());
        }
        return used;
    }
}
