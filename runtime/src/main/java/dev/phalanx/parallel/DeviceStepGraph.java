package dev.phalanx.parallel;

import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;

import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.device.CachingAllocator;
import dev.phalanx.kernels.device.DeviceApi;
import dev.phalanx.kernels.device.Event;
import dev.phalanx.kernels.device.Graph;
import dev.phalanx.kernels.device.Stream;

/**
 * The training step of the data-parallel replicas that share one device, captured into one CUDA
 * graph across their streams and replayed for every full batch (issue #9, item 5), shared by
 * those replicas as their {@link DeviceGroupAllReduce} is. The coordinator does not change: it
 * still sends each replica its row range in {@code Compute} and then {@code Apply}; what differs is
 * inside the replicas, which meet here on the host at a few points of a graph step:
 * <ul>
 * <li>the first full batch runs eagerly as a warm-up, each replica's allocator requests traced on
 * its stream ({@link #putTrace});</li>
 * <li>the second is captured within {@code Compute}: replica 0 begins the capture on its stream
 * (the origin) and records a fork event, the others wait for it on theirs (joining the capture),
 * every replica enqueues its forward, backward, bucket offers (the replica-order sum is enqueued
 * across the joined streams by the last contributor, as eagerly), the wait for its sums and its
 * optimizer update, then records a join event; replica 0 waits for each join and ends the
 * capture ({@link #end});</li>
 * <li>that step and every later full one is one replay on replica 0's stream
 * ({@link #launch}), after each replica has copied its shard into the graph's fixed buffers on
 * its own stream (its {@code loaded} event), and each replica's stream waits for the launch before
 * its loss and logits are read; {@code Apply} then only reports (the update ran in the graph).</li>
 * </ul>
 * The decision per step ({@link #mode}) is taken once, by the first replica that asks, so every
 * replica takes the same path. A failure during the capture turns the graph off for good and fails
 * that step with the error; the later steps run eagerly.
 */
public final class DeviceStepGraph implements AutoCloseable {

    /** What a training step does. */
    enum Mode { EAGER, WARM_UP, CAPTURE, REPLAY }

    /** The host meeting points of a graph step, in order. */
    enum Point { PREPARED, BEGUN, JOINED, ENDED, LOADED, LAUNCHED }

    private final DeviceContext context;
    private final DeviceApi api;
    private final int replicas;
    private final Event fork;
    private final Event launched;
    private final Event[] joins;
    private final Event[] loaded;
    private final Map<Long, Mode> decisions = new HashMap<>();
    private final Map<Long, int[]> arrivals = new HashMap<>();
    private final Map<Stream, List<Long>> traces = new HashMap<>();
    private int fullRows;
    private int fullSteps;
    private String off;
    private String failure;
    private Graph graph;
    private CachingAllocator.GraphPool pool;
    private boolean allocatorCapturing;
    private int replays;

    DeviceStepGraph(DeviceContext context, int replicas) {
        this.context = context;
        this.api = context.api();
        this.replicas = replicas;
        fork = api.newEvent();
        launched = api.newEvent();
        joins = new Event[replicas];
        loaded = new Event[replicas];
        for (int r = 0; r < replicas; r++) {
            joins[r] = api.newEvent();
            loaded[r] = api.newEvent();
        }
    }

    /**
     * What training step {@code step} of {@code rows} rows does, the same for every replica:
     * eager when the graph is off ({@code notCapturable}: why this model and optimizer cannot be
     * replayed, or null), for a batch of other rows than the first (an epoch's last), or one with
     * fewer rows than replicas; else the warm-up, the capture, then replays.
     */
    synchronized Mode mode(long step, int rows, String notCapturable) {
        Mode m = decisions.get(step);
        if (m == null) {
            if (off == null && notCapturable != null) off = notCapturable;
            if (off != null) {
                m = Mode.EAGER;
            } else {
                if (fullRows == 0) fullRows = rows;
                if (rows != fullRows || rows < replicas) {
                    m = Mode.EAGER;
                } else {
                    fullSteps++;
                    m = fullSteps == 1 ? Mode.WARM_UP : graph == null ? Mode.CAPTURE : Mode.REPLAY;
                }
            }
            decisions.put(step, m);
            decisions.keySet().removeIf(k -> k < step - 2);
            arrivals.keySet().removeIf(k -> k < step - 2);
        }
        return off != null && m != Mode.EAGER && m != Mode.WARM_UP ? Mode.EAGER : m; // a retry after the graph turned off
    }

    /**
     * A replica's part of a capture failed (its own error, or another replica's, met at a meeting
     * point). Nothing captured has run, so no replica's state changed: the coordinator's step run
     * computes the step again on every replica, eagerly, as the graph is off from then on
     * ({@code StepRun}), rather than treat it as a replica to restart.
     */
    static final class CaptureFailedException extends IllegalStateException {
        CaptureFailedException(int replica, Throwable cause) {
            super("replica " + replica + ": the replicas' step could not be captured into a CUDA graph (" + cause.getMessage()
                    + "); the step runs again eagerly and the graph stays off (runtime.cuda-graph = off, --cuda-graph off, turns it off "
                    + "from the start)", cause);
        }

        /** Whether {@code error} or one of its causes is a failed capture. */
        static boolean in(Throwable error) {
            for (Throwable t = error; t != null; t = t.getCause()) if (t instanceof CaptureFailedException) return true;
            return false;
        }
    }

    /** Replica {@code stream}'s allocator requests during the warm-up step. */
    synchronized void putTrace(Stream stream, List<Long> sizes) {
        traces.put(stream, sizes);
    }

    /**
     * Waits on the host until every replica has arrived at {@code point} of {@code step} (a
     * replica that failed counts as arrived: the others then fail too, rather than wait for it).
     */
    void arrive(long step, Point point, Duration timeout) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (this) {
            int[] counts = arrivals.computeIfAbsent(step, k -> new int[Point.values().length]);
            counts[point.ordinal()]++;
            notifyAll();
            while (counts[point.ordinal()] < replicas && failure == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException("the replicas' CUDA graph step " + step + ": " + (replicas - counts[point.ordinal()])
                            + " replica(s) did not reach " + point + " within " + timeout.toMillis() + " ms");
                }
                wait(Math.max(1, left / 1_000_000));
            }
            if (failure != null) throw new IllegalStateException("the replicas' CUDA graph capture failed: " + failure);
        }
    }

    /** A replica failed during a capture: the graph turns off, and the replicas waiting at a meeting point fail. */
    synchronized void fail(int replica, Throwable error) {
        String why = "replica " + replica + ": " + error.getMessage();
        if (failure == null) failure = why;
        if (off == null) off = "off: the step could not be captured (" + why + ")";
        notifyAll();
    }

    /** Counts a failed replica as arrived at {@code point} without waiting, so that replica 0 can end the capture. */
    synchronized void arriveAfterFailure(long step, Point point) {
        arrivals.computeIfAbsent(step, k -> new int[Point.values().length])[point.ordinal()]++;
        notifyAll();
    }

    /** Replica 0: starts serving the replicas' streams from a graph pool, begins the capture on its stream and records the fork. */
    synchronized void begin(Stream origin) {
        if (traces.size() != replicas) { // a stream without its blocks set aside would allocate from the shared cache inside the graph
            throw new IllegalStateException(traces.size() + " of " + replicas + " replicas traced their warm-up step's allocations");
        }
        pool = context.allocator().beginCapture(traces);
        allocatorCapturing = true;
        api.beginCapture(origin);
        api.record(fork, origin);
    }

    /** The event a replica's stream waits for to join the capture. */
    Event fork() {
        return fork;
    }

    /** The event replica {@code r} records after its captured work, for the join. */
    Event join(int r) {
        return joins[r];
    }

    /** The event replica {@code r} records after copying its shard into the graph's buffers. */
    Event loaded(int r) {
        return loaded[r];
    }

    /** The event recorded on the origin after a launch: a replica's stream waits for it before reading what the graph wrote. */
    Event launched() {
        return launched;
    }

    /**
     * Replica 0, once every replica has recorded its join: the origin waits for each (unless a
     * test leaves one out on purpose), and the capture ends; a failure is left to {@link #abort}.
     */
    synchronized void end(Stream origin, ReplicaFaults faults) {
        if (failure != null) throw new IllegalStateException(failure);
        for (int r = 1; r < replicas; r++) if (faults.joinsCaptureBack(r)) api.waitEvent(origin, joins[r]);
        graph = api.endCapture(origin);
        context.allocator().endCapture();
        allocatorCapturing = false;
    }

    /**
     * Replica 0, after a failure during the capture: once every replica has stopped enqueuing into
     * it (arrived at {@link Point#JOINED}, or failed), the capture ends if it still runs (its error
     * dropped: the first one is reported), the allocator serves the shared cache again and the
     * pool goes back. The graph stays off.
     */
    synchronized void abort(long step, Stream origin, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int[] counts = arrivals.computeIfAbsent(step, k -> new int[Point.values().length]);
        while (counts[Point.JOINED.ordinal()] < replicas && System.nanoTime() < deadline) wait(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
        if (api.isCapturing(origin)) {
            try {
                api.endCapture(origin).close();
            } catch (RuntimeException ignored) { // the capture is over either way
            }
        }
        if (allocatorCapturing) {
            context.allocator().endCapture();
            allocatorCapturing = false;
        }
        dropGraph();
    }

    /** Replica 0: after every replica's {@code loaded} event, one replay of the step on its stream, then the {@code launched} event. */
    synchronized void launch(Stream origin) {
        if (graph == null) throw new IllegalStateException("the replicas' CUDA graph was dropped during its step (a state was loaded into a replica)");
        for (int r = 1; r < replicas; r++) api.waitEvent(origin, loaded[r]);
        api.replay(graph, origin);
        api.record(launched, origin);
        replays++;
    }

    /**
     * A state was loaded into the replicas after the capture (a restart, a resume): the graph's
     * kernels would update the old optimizer state, so it is dropped and the next full batches warm
     * up and capture anew.
     */
    synchronized void invalidate(Stream origin) {
        // the warm-up's traces and count go too, whether or not a graph was captured yet: a replica rebuilt
        // between the warm-up and the capture has a new optimizer (its lr made at its first step) and new
        // generators, which only an eager warm-up makes outside a capture
        fullSteps = 0;
        traces.clear();
        if (graph == null) return;
        api.synchronize(origin);
        dropGraph();
    }

    /** Closes the graph, if any, and gives its pool back to the shared cache. */
    private void dropGraph() {
        if (graph != null) {
            graph.close();
            graph = null;
        }
        if (pool != null) {
            pool.close();
            pool = null;
        }
    }

    /** How many steps were replays. */
    public synchronized int replays() {
        return replays;
    }

    /** {@code on}, or why the graph is off. */
    public synchronized String state() {
        return off == null ? "on" : off;
    }

    /** Closes the graph and its pool, after the caller has synchronised the replicas' streams. */
    @Override
    public synchronized void close() {
        dropGraph();
        fork.close();
        launched.close();
        for (int r = 0; r < replicas; r++) {
            joins[r].close();
            loaded[r].close();
        }
    }
}
