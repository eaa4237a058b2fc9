package dev.phalanx.service;

import java.util.Locale;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonValue;

/** Where a run stands: waiting its turn, on the replicas, or ended (and how). */
public enum RunState {
    QUEUED, RUNNING, FINISHED, FAILED, STOPPED;

    /** Ended: nothing happens to the run until someone resumes it. */
    public boolean ended() {
        return this == FINISHED || this == FAILED || this == STOPPED;
    }

    @JsonValue
    public String json() {
        return name().toLowerCase(Locale.ROOT);
    }

    @JsonCreator
    public static RunState parse(String s) {
        return valueOf(s.toUpperCase(Locale.ROOT));
    }
}
