package dev.phalanx.service;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.TimeUnit;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Props;
import org.apache.pekko.actor.typed.SupervisorStrategy;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

import dev.phalanx.train.Recipe;

/**
 * Phalanx's training runs inside any Pekko {@link ActorSystem}: a persistent queue of runs
 * under one folder, started in turn, each on a coordinator spawned in that system from
 * {@code DataParallel.behavior(...)}. This is the embedding API; {@code phalanx serve} puts
 * HTTP ({@link HttpApi}) in front of it.
 * <pre>{@code
 * Training training = Training.start(system, Path.of("runs"), 1);
 * RunRecord run = training.submit("model = fashion-lenet\ndata.set = fashion-mnist-sample", Map.of());
 * training.events(run.id()).subscribe(...);   // progress, in order
 * training.stop(run.id());                    // checkpoint, then stop
 * training.close();                           // running runs checkpoint and resume at the next start
 * }</pre>
 */
public final class Training implements AutoCloseable {

    /** How long a request to the run manager may take (it never blocks). */
    static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);
    /** How long {@link #close} waits for running runs to write their checkpoints. */
    static final Duration SHUTDOWN_TIMEOUT = Duration.ofSeconds(120);

    /** A request the run manager refused: the HTTP status it maps to and a one-line reason. */
    public static final class RunRequestException extends RuntimeException {
        private final int status;

        public RunRequestException(int status, String message) {
            super(message);
            this.status = status;
        }

        public int status() {
            return status;
        }
    }

    private final ActorSystem<?> system;
    private final RunStore store;
    private final ConcurrentMap<String, RunEntry> runs;
    private final ActorRef<RunsCommand> manager;
    private volatile boolean closed;

    private Training(ActorSystem<?> system, RunStore store, ConcurrentMap<String, RunEntry> runs, ActorRef<RunsCommand> manager) {
        this.system = system;
        this.store = store;
        this.runs = runs;
        this.manager = manager;
    }

    /**
     * Loads the runs under {@code runsDir} (a run that was running when the service died is
     * queued first, to resume from its latest checkpoint) and starts the run manager in
     * {@code system}, running at most {@code maxConcurrent} runs at a time.
     */
    public static Training start(ActorSystem<?> system, Path runsDir, int maxConcurrent) throws IOException {
        if (maxConcurrent < 1) throw new IllegalArgumentException("at most " + maxConcurrent + " runs at a time: must be >= 1");
        RunStore store = new RunStore(runsDir);
        ConcurrentMap<String, RunEntry> runs = new ConcurrentHashMap<>();
        for (RunRecord r : store.load(System.err)) runs.put(r.id(), new RunEntry(store, r));
        ActorRef<RunsCommand> manager = system.systemActorOf(
                // a request that fails (run.json not written: a full disk) is answered by the ask's timeout; the queue goes on
                Behaviors.supervise(RunManager.create(store, runs, maxConcurrent)).onFailure(Exception.class, SupervisorStrategy.resume()),
                "phalanx-runs-" + java.util.UUID.randomUUID(), Props.empty()); // unique: a closed one may still be stopping
        return new Training(system, store, runs, manager);
    }

    /**
     * Checks the recipe (HOCON text) with its overrides, as {@code phalanx train} checks a file,
     * and queues a run of it. A bad recipe throws {@link Recipe.RecipeException} with the CLI's
     * one-line message, and nothing is queued.
     */
    public RunRecord submit(String recipe, Map<String, Object> overrides) {
        Recipe r = Recipes.parse(recipe, overrides);
        return await(AskPattern.ask(manager, reply -> new RunsCommand.Submit(r.name(), recipe, overrides, r.replicas(), reply),
                ASK_TIMEOUT, system.scheduler()));
    }

    /** Every run, in queue order. */
    public List<RunRecord> runs() {
        return runs.values().stream().map(RunEntry::record).sorted(Comparator.comparingLong(RunRecord::seq)).toList();
    }

    public Optional<RunRecord> run(String id) {
        return Optional.ofNullable(runs.get(id)).map(RunEntry::record);
    }

    /** The run's events: replay and live ({@link EventLog#subscribe}). */
    public Optional<EventLog> events(String id) {
        return Optional.ofNullable(runs.get(id)).map(RunEntry::events);
    }

    /** The run's folder (weights, metrics.csv, checkpoints, samples.png). */
    public Path dir(String id) {
        return store.dir(id);
    }

    /** Stops a run: a running one writes a checkpoint first (its state turns {@code stopped} when written). */
    public RunRecord stop(String id) {
        return await(AskPattern.ask(manager, reply -> new RunsCommand.Stop(id, reply), ASK_TIMEOUT, system.scheduler()));
    }

    /** Queues a stopped or failed run again; it continues from its latest checkpoint. */
    public RunRecord resume(String id) {
        return await(AskPattern.ask(manager, reply -> new RunsCommand.Resume(id, reply), ASK_TIMEOUT, system.scheduler()));
    }

    private RunRecord await(CompletionStage<RunsCommand.Reply> stage) {
        if (closed) throw new RunRequestException(503, "the service is shutting down");
        RunsCommand.Reply r;
        try {
            r = stage.toCompletableFuture().get(ASK_TIMEOUT.toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new RunRequestException(503, "interrupted");
        } catch (Exception e) {
            throw new RunRequestException(503, "the run manager did not answer: " + RunManager.oneLine(e));
        }
        if (r.problem() != null) throw new RunRequestException(r.status(), r.problem());
        return r.run();
    }

    /**
     * Stops taking work: running runs write a checkpoint and are queued to resume at the next
     * start; then the run manager and every coordinator, replica and training thread stop.
     * The ActorSystem itself is the caller's and keeps running.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            AskPattern.<RunsCommand, org.apache.pekko.Done>ask(manager, RunsCommand.Shutdown::new, SHUTDOWN_TIMEOUT, system.scheduler())
                    .toCompletableFuture().get(SHUTDOWN_TIMEOUT.toMillis() + 1000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (Exception e) {
            new PrintStream(System.err, true).println("warning: runs did not stop within " + SHUTDOWN_TIMEOUT.toSeconds() + " s: "
                    + RunManager.oneLine(e));
        }
    }
}
