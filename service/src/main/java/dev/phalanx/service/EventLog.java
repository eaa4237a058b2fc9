package dev.phalanx.service;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;

import dev.phalanx.io.AtomicFiles;

/**
 * A run's events in order, kept in memory and in {@code events.jsonl} in its folder (so a
 * restarted service still replays them), and handed to live subscribers. A subscriber first
 * gets every event so far, then each new one, with nothing lost or repeated between the two:
 * both happen under this log's lock.
 */
public final class EventLog {

    /** Where events go: an event stream to one client. */
    public interface Subscriber {
        /** False once the subscriber is gone (the client left, or fell too far behind). */
        boolean offer(RunEvent e);

        /** The run has ended: no more events until it is resumed. */
        void complete();
    }

    private final Path file;
    private final List<RunEvent> events = new ArrayList<>();
    private final List<Subscriber> subscribers = new ArrayList<>();
    private boolean ended;

    EventLog(Path file, boolean ended) {
        this.file = file;
        this.ended = ended;
        if (Files.isRegularFile(file)) {
            try {
                for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                    try {
                        JsonNode n = RunStore.JSON.readTree(line);
                        events.add(new RunEvent(n.get("seq").asLong(), n.get("type").asText(), n.path("step").asLong(), line));
                    } catch (IOException | RuntimeException e) {
                        // a torn last line from a killed service: dropped
                    }
                }
            } catch (IOException e) {
                // an unreadable log starts empty; the run itself is unaffected
            }
        }
    }

    /** Appends an event of this type with these fields (plus {@code seq} and {@code type}). */
    public synchronized RunEvent append(String type, long step, Map<String, Object> fields) {
        long seq = events.isEmpty() ? 1 : events.get(events.size() - 1).seq() + 1;
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        m.put("seq", seq);
        m.put("type", type);
        m.putAll(fields);
        RunEvent e;
        try {
            e = new RunEvent(seq, type, step, RunStore.JSON.writeValueAsString(m));
        } catch (JsonProcessingException ex) {
            throw new IllegalArgumentException("event " + type + " does not serialise: " + ex.getMessage(), ex);
        }
        events.add(e);
        try {
            Files.writeString(file, e.json() + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException ex) {
            // the live stream goes on; the replay after a restart misses this event
        }
        subscribers.removeIf(s -> !s.offer(e));
        return e;
    }

    /**
     * The run restarts from a checkpoint at {@code step}: progress events after it (an
     * interrupted attempt's) are dropped, as {@code metrics.csv} drops its rows. Sequence
     * numbers keep counting up.
     */
    public synchronized void truncateAfter(long step) {
        boolean changed = events.removeIf(e -> (e.type().equals("metrics") || e.type().equals("epoch")) && e.step() > step);
        if (!changed) return;
        StringBuilder b = new StringBuilder();
        for (RunEvent e : events) b.append(e.json()).append('\n');
        try {
            AtomicFiles.writeBytes(file, b.toString().getBytes(StandardCharsets.UTF_8));
        } catch (IOException ex) {
            // the in-memory log is right; the file is rewritten on the next truncation
        }
    }

    public synchronized void begin() {
        ended = false;
    }

    public synchronized void end() {
        ended = true;
        for (Subscriber s : subscribers) s.complete();
        subscribers.clear();
    }

    /** Every event so far, then (unless the run has ended) each new one until it ends. */
    public synchronized void subscribe(Subscriber s) {
        subscribe(s, 0);
    }

    /** As {@link #subscribe(Subscriber)}, from the event after {@code afterSeq} (a client reconnecting with Last-Event-ID). */
    public synchronized void subscribe(Subscriber s, long afterSeq) {
        for (RunEvent e : events) {
            if (e.seq() > afterSeq && !s.offer(e)) return;
        }
        if (ended) s.complete();
        else subscribers.add(s);
    }

    public synchronized void unsubscribe(Subscriber s) {
        subscribers.remove(s);
    }

    public synchronized List<RunEvent> events() {
        return List.copyOf(events);
    }
}
