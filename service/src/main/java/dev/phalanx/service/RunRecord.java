package dev.phalanx.service;

import java.util.Map;

import com.fasterxml.jackson.annotation.JsonInclude;

/**
 * One run as the API shows it and as {@code run.json} in its folder keeps it: what was asked
 * (the recipe's HOCON text and the overrides), where it stands, and its latest numbers.
 * {@code resume} says that its next start continues from its latest checkpoint. {@code seq}
 * orders the queue.
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record RunRecord(String id, long seq, String name, String recipe, Map<String, Object> overrides, RunState state,
                        boolean resume, long step, int epoch, Double loss, Double accuracy, Double imagesPerSecond,
                        int replicas, String error, long created, Long started, Long ended) {

    public RunRecord {
        overrides = overrides == null ? Map.of() : Map.copyOf(overrides);
    }

    RunRecord withState(RunState s, String err, boolean resumeNext) {
        long now = System.currentTimeMillis();
        return new RunRecord(id, seq, name, recipe, overrides, s, resumeNext, step, epoch, loss, accuracy, imagesPerSecond, replicas, err,
                created, s == RunState.RUNNING ? Long.valueOf(now) : started, s.ended() ? Long.valueOf(now) : s == RunState.RUNNING ? null : ended);
    }

    RunRecord withProgress(long stepNow, int epochNow, Double lossNow, Double accuracyNow, Double rateNow) {
        return new RunRecord(id, seq, name, recipe, overrides, state, resume, stepNow, epochNow, lossNow == null ? loss : lossNow,
                accuracyNow == null ? accuracy : accuracyNow, rateNow == null ? imagesPerSecond : rateNow, replicas, error, created, started, ended);
    }
}
