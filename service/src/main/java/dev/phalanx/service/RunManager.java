package dev.phalanx.service;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentMap;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import dev.phalanx.parallel.Coordinator;
import dev.phalanx.parallel.DataParallel;
import dev.phalanx.train.ParallelSteps;
import dev.phalanx.train.Recipe;
import dev.phalanx.train.Trainer;

/**
 * Owns the run queue: takes submissions, starts runs in turn ({@code maxConcurrent} at a time),
 * stops and resumes them. A run's coordinator is this actor's child, spawned from
 * {@link DataParallel#behavior} like any other child, and stopped when the run ends; the
 * blocking training loop runs on a thread of its own, named after the run, that ends with it.
 * Two behaviours: {@link #serving} and, after {@link RunsCommand.Shutdown}, {@link #draining}.
 */
final class RunManager {

    /** A run on the replicas: its stop flag and its coordinator. */
    private record Active(long attempt, AtomicBoolean stop, ActorRef<Coordinator.Command> coordinator) { }

    private final ActorContext<RunsCommand> ctx;
    private final RunStore store;
    private final ConcurrentMap<String, RunEntry> runs;
    private final int maxConcurrent;
    private final Deque<String> queue = new ArrayDeque<>();
    private final Map<String, Active> active = new HashMap<>();
    private long attempts;
    private long nextSeq = 1;

    private RunManager(ActorContext<RunsCommand> ctx, RunStore store, ConcurrentMap<String, RunEntry> runs, int maxConcurrent) {
        this.ctx = ctx;
        this.store = store;
        this.runs = runs;
        this.maxConcurrent = maxConcurrent;
        List<RunEntry> resumeFirst = new ArrayList<>(), waiting = new ArrayList<>();
        for (RunEntry e : runs.values()) {
            nextSeq = Math.max(nextSeq, e.record().seq() + 1);
            // a run that was on when the service died continues from its latest checkpoint, ahead of the queue
            if (e.record().state() == RunState.RUNNING) resumeFirst.add(e);
            else if (e.record().state() == RunState.QUEUED) waiting.add(e);
        }
        for (RunEntry e : resumeFirst) {
            e.update(r -> r.withState(RunState.QUEUED, null, true));
            queue.add(e.record().id());
        }
        waiting.sort(java.util.Comparator.comparingLong(e -> e.record().seq()));
        for (RunEntry e : waiting) queue.add(e.record().id());
    }

    static Behavior<RunsCommand> create(RunStore store, ConcurrentMap<String, RunEntry> runs, int maxConcurrent) {
        return Behaviors.setup(ctx -> {
            RunManager m = new RunManager(ctx, store, runs, maxConcurrent);
            m.startNext();
            return m.serving();
        });
    }

    private Behavior<RunsCommand> serving() {
        return Behaviors.receive(RunsCommand.class)
                .onMessage(RunsCommand.Submit.class, this::submit)
                .onMessage(RunsCommand.Stop.class, this::stop)
                .onMessage(RunsCommand.Resume.class, this::resume)
                .onMessage(RunsCommand.Ended.class, m -> {
                    ended(m, false);
                    startNext();
                    return Behaviors.same();
                })
                .onMessage(RunsCommand.Shutdown.class, m -> {
                    queue.clear();
                    for (Active a : active.values()) a.stop().set(true);
                    return active.isEmpty() ? done(m.replyTo()) : draining(m.replyTo());
                })
                .build();
    }

    /** Shutting down: the running runs write their checkpoints; nothing new starts. */
    private Behavior<RunsCommand> draining(ActorRef<Done> whenDone) {
        return Behaviors.receive(RunsCommand.class)
                .onMessage(RunsCommand.Submit.class, m -> reply(m.replyTo(), RunsCommand.Reply.problem(503, "the service is shutting down")))
                .onMessage(RunsCommand.Stop.class, m -> reply(m.replyTo(), RunsCommand.Reply.problem(503, "the service is shutting down")))
                .onMessage(RunsCommand.Resume.class, m -> reply(m.replyTo(), RunsCommand.Reply.problem(503, "the service is shutting down")))
                .onMessage(RunsCommand.Ended.class, m -> {
                    ended(m, true);
                    return active.isEmpty() ? done(whenDone) : Behaviors.same();
                })
                .onMessage(RunsCommand.Shutdown.class, m -> Behaviors.same())
                .build();
    }

    private static Behavior<RunsCommand> done(ActorRef<Done> whenDone) {
        whenDone.tell(Done.getInstance());
        return Behaviors.stopped();
    }

    private Behavior<RunsCommand> reply(ActorRef<RunsCommand.Reply> to, RunsCommand.Reply r) {
        to.tell(r);
        return Behaviors.same();
    }

    private Behavior<RunsCommand> submit(RunsCommand.Submit m) {
        long seq = nextSeq++;
        String id = String.format(java.util.Locale.ROOT, "run-%06d", seq);
        RunRecord r = new RunRecord(id, seq, m.name(), m.recipe(), m.overrides(), RunState.QUEUED, false, 0, 0, null, null, null,
                m.replicas(), null, System.currentTimeMillis(), null, null);
        store.save(r);
        RunEntry e = new RunEntry(store, r);
        runs.put(id, e);
        e.events().append("state", 0, stateFields(r));
        queue.add(id);
        startNext();
        return reply(m.replyTo(), RunsCommand.Reply.ok(e.record(), 201));
    }

    private Behavior<RunsCommand> stop(RunsCommand.Stop m) {
        RunEntry e = runs.get(m.id());
        if (e == null) return reply(m.replyTo(), RunsCommand.Reply.problem(404, "no run " + m.id()));
        Active a = active.get(m.id());
        if (a != null) {
            a.stop().set(true); // the training loop writes a checkpoint, returns, and Ended marks it stopped
            return reply(m.replyTo(), RunsCommand.Reply.ok(e.record(), 202));
        }
        if (queue.remove(m.id())) {
            RunRecord r = e.update(x -> x.withState(RunState.STOPPED, null, x.resume()));
            e.events().append("state", r.step(), stateFields(r));
            e.events().end();
            return reply(m.replyTo(), RunsCommand.Reply.ok(r, 200));
        }
        return reply(m.replyTo(), RunsCommand.Reply.problem(409, "run " + m.id() + " is " + e.record().state().json() + ": there is nothing to stop"));
    }

    private Behavior<RunsCommand> resume(RunsCommand.Resume m) {
        RunEntry e = runs.get(m.id());
        if (e == null) return reply(m.replyTo(), RunsCommand.Reply.problem(404, "no run " + m.id()));
        RunState s = e.record().state();
        if (s != RunState.STOPPED && s != RunState.FAILED) {
            return reply(m.replyTo(), RunsCommand.Reply.problem(409, "run " + m.id() + " is " + s.json() + ": only a stopped or failed run can be resumed"));
        }
        RunRecord r = e.update(x -> x.withState(RunState.QUEUED, null, true));
        e.events().begin();
        e.events().append("state", r.step(), stateFields(r));
        queue.add(m.id());
        startNext();
        return reply(m.replyTo(), RunsCommand.Reply.ok(e.record(), 202));
    }

    private void startNext() {
        while (active.size() < maxConcurrent && !queue.isEmpty()) start(queue.poll());
    }

    private void start(String id) {
        RunEntry e = runs.get(id);
        long attempt = ++attempts;
        Recipe recipe;
        try {
            recipe = Recipes.of(e.record());
        } catch (RuntimeException ex) { // checked at submission; only a hand-edited run.json gets here
            fail(e, ex.getMessage());
            return;
        }
        DataParallel.Builder parallel = Trainer.parallel(recipe);
        ActorRef<Coordinator.Command> coordinator = ctx.spawn(DataParallel.behavior(parallel.spec(), parallel.settings()),
                "coordinator-" + id + "-" + attempt);
        DataParallel dp = DataParallel.attach(coordinator, ctx.getSystem().scheduler(), parallel.settings());
        AtomicBoolean stop = new AtomicBoolean();
        active.put(id, new Active(attempt, stop, coordinator));
        boolean resume = e.record().resume();
        RunRecord r = e.update(x -> x.withState(RunState.RUNNING, null, x.resume()));
        e.events().begin();
        e.events().append("state", r.step(), stateFields(r));
        CompletableFuture<Trainer.Outcome> done = new CompletableFuture<>();
        Thread t = new Thread(() -> {
            try (PrintStream log = new PrintStream(Files.newOutputStream(store.dir(id).resolve("train.log"), StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND), true, StandardCharsets.UTF_8)) {
                Trainer.Options o = new Trainer.Options(store.dir(id), resume, log, log, false, stop, null,
                        (x, train) -> new ParallelSteps(dp, Trainer.backendName(x)), new RunProgress(e, recipe));
                done.complete(new Trainer(recipe, o).run());
            } catch (Throwable ex) {
                done.completeExceptionally(ex);
            }
        }, "phalanx-run-" + id);
        t.setDaemon(true);
        t.start();
        ctx.pipeToSelf(done, (outcome, error) -> new RunsCommand.Ended(id, attempt, outcome,
                error instanceof java.util.concurrent.CompletionException ce ? ce.getCause() : error));
    }

    private void ended(RunsCommand.Ended m, boolean shuttingDown) {
        Active a = active.get(m.id());
        if (a == null || a.attempt() != m.attempt()) return;
        active.remove(m.id());
        ctx.stop(a.coordinator()); // and with it the replicas and their threads
        RunEntry e = runs.get(m.id());
        if (m.error() != null) {
            fail(e, oneLine(m.error()));
        } else if (m.outcome().interrupted()) {
            // stopped by a user: stays stopped; by a shutdown: continues at the next start
            RunRecord r = e.update(x -> x.withState(shuttingDown ? RunState.QUEUED : RunState.STOPPED, null, true)
                    .withProgress(m.outcome().steps(), m.outcome().state().epoch(), null, null, null));
            e.events().append("state", r.step(), stateFields(r));
            e.events().end();
        } else {
            RunRecord r = e.update(x -> x.withState(RunState.FINISHED, null, false)
                    .withProgress(m.outcome().steps(), x.epoch(), null, null, null));
            e.events().append("state", r.step(), stateFields(r));
            e.events().end();
        }
    }

    private void fail(RunEntry e, String error) {
        RunRecord r = e.update(x -> x.withState(RunState.FAILED, error, true));
        e.events().append("state", r.step(), stateFields(r));
        e.events().end();
    }

    static String oneLine(Throwable t) {
        String m = t.getMessage() == null ? t.toString() : t.getMessage();
        return m.lines().findFirst().orElse(t.getClass().getSimpleName());
    }

    static Map<String, Object> stateFields(RunRecord r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("state", r.state().json());
        m.put("step", r.step());
        m.put("error", r.error());
        return m;
    }

}
