package dev.phalanx.service;

import java.util.Map;

import org.apache.pekko.Done;
import org.apache.pekko.actor.typed.ActorRef;

import dev.phalanx.train.Trainer;

/** The messages of {@link RunManager}, the actor that owns the run queue. */
public sealed interface RunsCommand {

    /** A new run of a recipe already checked; queued behind the others. */
    record Submit(String name, String recipe, Map<String, Object> overrides, int replicas, ActorRef<Reply> replyTo) implements RunsCommand { }

    /** Stop a run: a running one writes a checkpoint first; a queued one leaves the queue. */
    record Stop(String id, ActorRef<Reply> replyTo) implements RunsCommand { }

    /** Queue a stopped or failed run again, to continue from its latest checkpoint. */
    record Resume(String id, ActorRef<Reply> replyTo) implements RunsCommand { }

    /** A run's training thread has returned (an outcome) or thrown (an error). */
    record Ended(String id, long attempt, Trainer.Outcome outcome, Throwable error) implements RunsCommand { }

    /** Stop taking work, checkpoint the running runs (they resume at the next start), then stop. */
    record Shutdown(ActorRef<Done> replyTo) implements RunsCommand { }

    /** The answer to a request: the run as it now is, or what was wrong (an HTTP status and a line). */
    record Reply(RunRecord run, int status, String problem) {
        static Reply ok(RunRecord r, int status) {
            return new Reply(r, status, null);
        }

        static Reply problem(int status, String problem) {
            return new Reply(null, status, problem);
        }
    }
}
