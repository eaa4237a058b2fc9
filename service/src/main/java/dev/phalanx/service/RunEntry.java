package dev.phalanx.service;

import java.util.function.UnaryOperator;

/**
 * A run's record and event log, shared by the run manager (state changes) and the run's
 * training thread (progress); readers (the HTTP routes) take {@link #record()} without asking
 * the actor. Every change is saved to {@code run.json} at once.
 */
public final class RunEntry {

    private final RunStore store;
    private final EventLog events;
    private volatile RunRecord record;

    RunEntry(RunStore store, RunRecord record) {
        this.store = store;
        this.record = record;
        this.events = new EventLog(store.dir(record.id()).resolve("events.jsonl"), record.state().ended());
    }

    public RunRecord record() {
        return record;
    }

    public java.nio.file.Path dir() {
        return store.dir(record.id());
    }

    public EventLog events() {
        return events;
    }

    synchronized RunRecord update(UnaryOperator<RunRecord> change) {
        RunRecord next = change.apply(record);
        store.save(next);
        record = next;
        return next;
    }
}
