package dev.phalanx.kernels.device;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import dev.phalanx.kernels.cpu.ConvGeometry;
import dev.phalanx.kernels.cpu.ConvKernels;
import dev.phalanx.kernels.cpu.CpuBackend;

/**
 * A device on the CPU that behaves like a GPU where it matters to the code above it:
 * <ul>
 * <li>its memory is its own: buffers are opaque handles, and the only way to their bytes is a
 * copy; a buffer used after {@link #free}, out of its range, or on another device is an error;
 * <li>each stream is its own thread, and before each operation it waits a random time (from a
 * seed), so work on two streams interleaves differently from run to run and a missing
 * synchronisation shows up as a wrong result;
 * <li>{@link #hold(Stream)} stops a stream until {@link #release(Stream)}, so that a test which
 * leaves out one synchronisation on purpose sees the wrong result every time;
 * <li>graph capture records a stream's operations and replay runs them again on the same buffers;
 * as CUDA's, a capture follows fork/join edges: a stream that waits for an event recorded inside a
 * capture joins it, and must be joined back (the origin stream waits for an event recorded after
 * its last captured operation) before the capture ends on the origin, else
 * {@code cudaErrorStreamCaptureUnjoined}; a replay runs each joined stream's operations on a
 * stream of the graph's own, ordered only by the captured edges, as a graph's nodes run on a GPU;
 * <li>the arithmetic is the CPU kernels' (GEMM, convolution, pooling) and the Java twins of the
 * {@code .cu} kernels ({@link SimKernels}).
 * </ul>
 * Allocating while a stream captures is an error, as {@code cudaMalloc} is during a capture.
 */
public final class SimulatedDevice implements DeviceApi {

    /** Memory size, the largest random delay before each operation, and the seed of the delays. */
    public record Options(long memoryBytes, long maxDelayMicros, long seed) {
        public static final long DEFAULT_MEMORY = 1L << 30;
        public static final long DEFAULT_MAX_DELAY_MICROS = 200;

        public static Options defaults() {
            return new Options(DEFAULT_MEMORY, DEFAULT_MAX_DELAY_MICROS, 1234);
        }

        public Options withMemory(long bytes) {
            return new Options(bytes, maxDelayMicros, seed);
        }

        public Options withDelay(long micros) {
            return new Options(memoryBytes, micros, seed);
        }

        public Options withSeed(long s) {
            return new Options(memoryBytes, maxDelayMicros, s);
        }
    }

    /** How long a host wait on the simulated device may take before it is reported as a hang. */
    static final long WAIT_LIMIT_SECONDS = 60;

    private final String name;
    private final Options options;
    private final Map<Long, ByteBuffer> memory = new ConcurrentHashMap<>();
    private final Map<Long, ByteBuffer> pinned = new ConcurrentHashMap<>();
    private final AtomicLong nextHandle = new AtomicLong(0x1000);
    private final AtomicLong used = new AtomicLong();
    private final AtomicInteger mallocCalls = new AtomicInteger();
    private final AtomicInteger mallocHostCalls = new AtomicInteger();
    private final AtomicInteger nextStreamId = new AtomicInteger();
    private final List<SimStream> streams = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final AtomicInteger capturing = new AtomicInteger();
    private final Memory mem = new Memory();
    private volatile boolean closed;

    public SimulatedDevice(int index, Options options) {
        this.name = "sim:" + index;
        this.options = options;
    }

    public SimulatedDevice(int index) {
        this(index, Options.defaults());
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public MemoryInfo memoryInfo() {
        return new MemoryInfo(options.memoryBytes() - used.get(), options.memoryBytes());
    }

    /** How many times {@link #malloc} was called: the caching allocator keeps this flat in the steady state. */
    public int mallocCalls() {
        return mallocCalls.get();
    }

    /** How many times {@link #mallocHost} was called: pinned buffers are kept and reused, never made per step. */
    public int mallocHostCalls() {
        return mallocHostCalls.get();
    }

    /**
     * How many times the host waited for {@code stream}: {@link #synchronize(Stream)} on it, and
     * {@link #synchronize(Event)} on an event last recorded on it. A test counts them to show a
     * training step is enqueued without waiting for the device.
     */
    public int hostWaits(Stream stream) {
        return stream(stream).hostWaits.get();
    }

    // ---- memory

    @Override
    public DeviceBuffer malloc(long bytes) {
        checkOpen();
        if (bytes <= 0) throw new IllegalArgumentException(name + ": cannot allocate " + bytes + " bytes");
        if (capturing.get() > 0) {
            throw new IllegalStateException(name + ": malloc of " + bytes + " bytes while a stream captures a graph (CUDA forbids it; "
                    + "warm the caching allocator up with an eager step first)");
        }
        mallocCalls.incrementAndGet();
        long after = used.addAndGet(bytes);
        if (after > options.memoryBytes() || bytes > Integer.MAX_VALUE) {
            used.addAndGet(-bytes);
            throw new DeviceOutOfMemoryError(name, bytes, options.memoryBytes() - used.get(), options.memoryBytes(), 0, 0);
        }
        long h = nextHandle.getAndAdd(0x100);
        memory.put(h, ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN));
        return DeviceBuffer.of(this, h, bytes);
    }

    @Override
    public void free(DeviceBuffer buffer) {
        buffer.checkOn(this);
        if (buffer.offset() != 0) throw new IllegalArgumentException(name + ": free takes a whole allocation, got the slice " + buffer);
        ByteBuffer b = memory.remove(buffer.handle());
        if (b == null) throw new IllegalStateException(name + ": double free of " + buffer);
        used.addAndGet(-b.capacity());
    }

    @Override
    public HostBuffer mallocHost(long bytes) {
        checkOpen();
        mallocHostCalls.incrementAndGet();
        long h = nextHandle.getAndAdd(0x100);
        ByteBuffer b = ByteBuffer.allocateDirect((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
        pinned.put(h, b);
        return new HostBuffer(this, h, b);
    }

    @Override
    public void freeHost(HostBuffer buffer) {
        if (pinned.remove(buffer.handle()) == null) throw new IllegalStateException(name + ": double free of a pinned host buffer");
    }

    /** The bytes behind a device range; only stream threads and the twins come here. */
    private ByteBuffer bytes(DeviceBuffer b, long length) {
        ByteBuffer whole = memory.get(b.handle());
        if (whole == null) throw new IllegalStateException(name + ": use of a freed device buffer " + b);
        if (length > b.bytes() || b.offset() + length > whole.capacity()) {
            throw new IllegalStateException(name + ": access of " + length + " bytes beyond " + b + " (an illegal address on a GPU)");
        }
        return whole.duplicate().order(ByteOrder.LITTLE_ENDIAN).position((int) b.offset()).limit((int) (b.offset() + length)).slice()
                .order(ByteOrder.LITTLE_ENDIAN);
    }

    private void checkLive(DeviceBuffer b) {
        b.checkOn(this);
        if (!memory.containsKey(b.handle())) throw new IllegalStateException(name + ": use of a freed device buffer " + b);
    }

    private final class Memory implements SimKernels.Memory {
        @Override
        public float[] floats(DeviceBuffer b, long count) {
            float[] out = new float[(int) count];
            bytes(b, count * 4).asFloatBuffer().get(out);
            return out;
        }

        @Override
        public void put(DeviceBuffer b, float[] values) {
            bytes(b, values.length * 4L).asFloatBuffer().put(values);
        }

        @Override
        public long[] longs(DeviceBuffer b, long count) {
            long[] out = new long[(int) count];
            bytes(b, count * 8).asLongBuffer().get(out);
            return out;
        }

        @Override
        public int[] ints(DeviceBuffer b, long count) {
            int[] out = new int[(int) count];
            bytes(b, count * 4).asIntBuffer().get(out);
            return out;
        }

        @Override
        public void putInts(DeviceBuffer b, int[] values) {
            bytes(b, values.length * 4L).asIntBuffer().put(values);
        }

        @Override
        public void putLongs(DeviceBuffer b, long[] values) {
            bytes(b, values.length * 8L).asLongBuffer().put(values);
        }

        @Override
        public byte[] rawBytes(DeviceBuffer b, long count) {
            byte[] out = new byte[(int) count];
            SimulatedDevice.this.bytes(b, count).get(out);
            return out;
        }

        @Override
        public void putRawBytes(DeviceBuffer b, byte[] values) {
            SimulatedDevice.this.bytes(b, values.length).put(values);
        }

        @Override
        public double[] doubles(DeviceBuffer b, long count) {
            double[] out = new double[(int) count];
            SimulatedDevice.this.bytes(b, count * 8).asDoubleBuffer().get(out);
            return out;
        }

        @Override
        public void putDoubles(DeviceBuffer b, double[] values) {
            SimulatedDevice.this.bytes(b, values.length * 8L).asDoubleBuffer().put(values);
        }
    }

    // ---- copies

    @Override
    public void copyHostToDevice(HostBuffer src, long srcOffset, DeviceBuffer dst, long bytes, Stream stream) {
        checkHost(src, srcOffset, bytes);
        checkLive(dst);
        enqueue(stream, "copyHostToDevice", () -> {
            byte[] tmp = new byte[(int) bytes];
            src.buffer().duplicate().position((int) srcOffset).get(tmp);
            bytes(dst, bytes).put(tmp);
        });
    }

    @Override
    public void copyDeviceToHost(DeviceBuffer src, HostBuffer dst, long dstOffset, long bytes, Stream stream) {
        checkHost(dst, dstOffset, bytes);
        checkLive(src);
        enqueue(stream, "copyDeviceToHost", () -> {
            byte[] tmp = new byte[(int) bytes];
            bytes(src, bytes).get(tmp);
            dst.buffer().duplicate().position((int) dstOffset).put(tmp);
        });
    }

    @Override
    public void copyDeviceToDevice(DeviceBuffer src, DeviceBuffer dst, long bytes, Stream stream) {
        checkLive(src);
        checkLive(dst);
        enqueue(stream, "copyDeviceToDevice", () -> {
            byte[] tmp = new byte[(int) bytes];
            bytes(src, bytes).get(tmp);
            bytes(dst, bytes).put(tmp);
        });
    }

    @Override
    public void fillZero(DeviceBuffer buffer, Stream stream) {
        checkLive(buffer);
        enqueue(stream, "fillZero", () -> bytes(buffer, buffer.bytes()).put(new byte[(int) buffer.bytes()]));
    }

    private void checkHost(HostBuffer h, long offset, long bytes) {
        if (h.device() != this) throw new IllegalArgumentException("a pinned buffer of " + h.device().name() + " was passed to " + name);
        if (!pinned.containsKey(h.handle())) throw new IllegalStateException(name + ": use of a freed pinned host buffer");
        if (offset < 0 || offset + bytes > h.bytes()) {
            throw new IndexOutOfBoundsException(name + ": bytes [" + offset + ", " + (offset + bytes) + ") of a " + h.bytes() + "-byte pinned buffer");
        }
    }

    // ---- compute

    @Override
    public void launch(Stream stream, String kernel, LaunchConfig config, KernelArgs args) {
        KernelCatalog.standard().signature(kernel).check(args);
        SimKernels.Twin twin = SimKernels.TWINS.get(kernel);
        if (twin == null) throw new IllegalStateException(name + ": kernel " + kernel + " has no simulated twin");
        for (KernelArgs.Arg a : args.list()) if (a instanceof KernelArgs.Ptr p) checkLive(p.buffer());
        enqueue(stream, kernel, () -> twin.run(mem, config, args));
    }

    @Override
    public void gemm(Stream stream, boolean transA, boolean transB, int m, int n, int k, float alpha, DeviceBuffer a, DeviceBuffer b,
                     float beta, DeviceBuffer c) {
        checkLive(a);
        checkLive(b);
        checkLive(c);
        enqueue(stream, "gemm", () -> {
            float[] av = mem.floats(a, (long) m * k), bv = mem.floats(b, (long) k * n), cv = mem.floats(c, (long) m * n);
            if (alpha == 1f && (beta == 0f || beta == 1f)) {
                CpuBackend.serial().gemm().sgemm(transA, transB, m, n, k, av, 0, bv, 0, cv, 0, beta == 1f);
            } else {
                float[] t = new float[m * n];
                CpuBackend.serial().gemm().sgemm(transA, transB, m, n, k, av, 0, bv, 0, t, 0, false);
                for (int i = 0; i < t.length; i++) cv[i] = alpha * t[i] + (beta == 0f ? 0f : beta * cv[i]);
            }
            mem.put(c, cv);
        });
    }

    @Override
    public ConvAlgorithm findConvAlgorithm(ConvDirection direction, ConvGeometry g) {
        // the unfolded input of one image, as the CPU kernel's im2col needs: a workspace to exercise the layer above
        return new ConvAlgorithm(direction, 0, "sim-im2col", (long) g.patch() * g.outPlane() * Float.BYTES);
    }

    private void checkWorkspace(ConvAlgorithm algo, DeviceBuffer ws) {
        if (algo.workspaceBytes() > 0 && (ws == null || ws.bytes() < algo.workspaceBytes())) {
            throw new IllegalArgumentException(name + ": convolution " + algo.name() + " needs a workspace of " + algo.workspaceBytes()
                    + " bytes, got " + (ws == null ? "none" : ws.bytes() + " bytes"));
        }
        if (ws != null) checkLive(ws);
    }

    private static long weights(ConvGeometry g) {
        return (long) g.cout() * g.patch();
    }

    @Override
    public void convForward(Stream stream, ConvGeometry g, ConvAlgorithm algo, DeviceBuffer x, DeviceBuffer w, DeviceBuffer y, DeviceBuffer ws) {
        checkWorkspace(algo, ws);
        checkLive(x);
        checkLive(w);
        checkLive(y);
        enqueue(stream, "convForward", () -> {
            float[] out = new float[g.n() * g.outImage()];
            ConvKernels.forward(CpuBackend.serial(), g, mem.floats(x, (long) g.n() * g.inImage()), mem.floats(w, weights(g)), null, out);
            mem.put(y, out);
        });
    }

    @Override
    public void convBackwardData(Stream stream, ConvGeometry g, ConvAlgorithm algo, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx,
                                 DeviceBuffer ws) {
        checkWorkspace(algo, ws);
        checkLive(dy);
        checkLive(w);
        checkLive(dx);
        enqueue(stream, "convBackwardData", () -> {
            float[] out = new float[g.n() * g.inImage()];
            ConvKernels.backwardData(CpuBackend.serial(), g, mem.floats(dy, (long) g.n() * g.outImage()), mem.floats(w, weights(g)), out);
            mem.put(dx, out);
        });
    }

    @Override
    public void convBackwardFilter(Stream stream, ConvGeometry g, ConvAlgorithm algo, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw,
                                   DeviceBuffer ws) {
        checkWorkspace(algo, ws);
        checkLive(x);
        checkLive(dy);
        checkLive(dw);
        enqueue(stream, "convBackwardFilter", () -> {
            float[] out = new float[(int) weights(g)];
            ConvKernels.backwardWeight(CpuBackend.serial(), g, mem.floats(x, (long) g.n() * g.inImage()),
                    mem.floats(dy, (long) g.n() * g.outImage()), out, null);
            mem.put(dw, out);
        });
    }

    // ---- streams, events, graphs

    /** One operation as enqueued: {@code prepare} runs when it is enqueued (eagerly or by a replay), its result on the stream. */
    private interface Op {
        String what();

        Runnable prepare();
    }

    private record Plain(String what, Runnable body) implements Op {
        @Override
        public Runnable prepare() {
            return body;
        }
    }

    private void enqueue(Stream stream, String what, Runnable body) {
        enqueue(stream(stream), new Plain(what, body));
    }

    private void enqueue(SimStream s, Op op) {
        checkOpen();
        SimCapture capture = s.capture;
        if (capture != null) {
            capture.add(s, op);
        } else {
            s.submit(op.what(), op.prepare());
        }
    }

    private SimStream stream(Stream stream) {
        if (!(stream instanceof SimStream s) || s.device() != this) {
            throw new IllegalArgumentException("stream " + stream + " does not belong to " + name);
        }
        if (s.closed) throw new IllegalStateException(name + ": stream " + s.id + " is closed");
        return s;
    }

    private SimEvent event(Event event) {
        if (!(event instanceof SimEvent e) || e.device() != this) throw new IllegalArgumentException("event " + event + " does not belong to " + name);
        return e;
    }

    @Override
    public Stream newStream() {
        checkOpen();
        int id = nextStreamId.getAndIncrement();
        SimStream s = new SimStream(id, new Random(options.seed() * 31 + id));
        streams.add(s);
        return s;
    }

    /** Stops {@code stream} before its next operation until {@link #release}: what it has queued, and what comes, waits. */
    public void hold(Stream stream) {
        SimStream s = stream(stream);
        synchronized (s) {
            s.held = true;
        }
    }

    public void release(Stream stream) {
        SimStream s = stream(stream);
        synchronized (s) {
            s.held = false;
            s.notifyAll();
        }
    }

    @Override
    public Event newEvent() {
        return new SimEvent(false);
    }

    @Override
    public Event newTimingEvent() {
        return new SimEvent(true);
    }

    /** The twin of {@code cudaEventElapsedTime}: the time between the two points on the stream threads' clock ({@code System.nanoTime}). */
    @Override
    public float elapsedMillis(Event start, Event end) {
        SimEvent a = event(start), b = event(end);
        DeviceApi.requireTimingEvents(name, a.timing, b.timing);
        long from, to;
        synchronized (a) {
            if (a.recorded == 0 || a.reached < a.recorded) throw new IllegalStateException(name + ": elapsedMillis: the start event is "
                    + (a.recorded == 0 ? "not recorded" : "not complete (cudaErrorNotReady): synchronise on it first"));
            from = a.reachedNanos;
        }
        synchronized (b) {
            if (b.recorded == 0 || b.reached < b.recorded) throw new IllegalStateException(name + ": elapsedMillis: the end event is "
                    + (b.recorded == 0 ? "not recorded" : "not complete (cudaErrorNotReady): synchronise on it first"));
            to = b.reachedNanos;
        }
        return (float) ((to - from) / 1e6);
    }

    @Override
    public void record(Event event, Stream stream) {
        SimEvent e = event(event);
        SimStream on = stream(stream);
        Op op = new Op() {
            @Override
            public String what() {
                return "record event";
            }

            @Override
            public Runnable prepare() {
                long target;
                synchronized (e) {
                    target = ++e.recorded;
                    e.recordedInCapture = null;
                }
                return () -> {
                    synchronized (e) {
                        if (e.timing && target > e.reached) e.reachedNanos = System.nanoTime(); // the clock of the stream's thread, at this point
                        e.reached = Math.max(e.reached, target);
                        e.notifyAll();
                    }
                };
            }
        };
        SimCapture capture = on.capture;
        if (capture != null) {
            capture.record(on, op, e); // the event then carries what of the capture it follows, for the join check
            return;
        }
        synchronized (e) {
            e.recordedOn = on;
            e.recordedInCapture = null; // a replay's record is eager again (prepare above)
            e.captureClock = null;
        }
        enqueue(on, op);
    }

    @Override
    public void waitEvent(Stream stream, Event event) {
        SimEvent e = event(event);
        SimStream s = stream(stream);
        SimCapture into = checkCaptureBoundary(s, e);
        Op op = new Op() {
            @Override
            public String what() {
                return "wait for event";
            }

            @Override
            public Runnable prepare() {
                long target;
                synchronized (e) {
                    target = e.recorded;
                }
                return () -> e.await(target, name);
            }
        };
        if (into != null) into.await(s, op, e); // joins s to the capture when it is not in it yet (a fork)
        else enqueue(s, op);
    }

    /**
     * A wait may not cross a capture's boundary, as CUDA's may not: a capturing stream waiting for
     * an event recorded outside its capture ({@code cudaErrorStreamCaptureIsolation}: the graph
     * could not replay that dependency), or for one recorded in another capture
     * ({@code cudaErrorStreamCaptureMerge}). A stream outside any capture waiting for an event
     * recorded inside one joins that capture (CUDA's fork): the capture is returned, and the wait
     * is captured there. Null: an eager wait.
     */
    private SimCapture checkCaptureBoundary(SimStream s, SimEvent e) {
        SimCapture recordedIn;
        boolean everRecorded;
        synchronized (e) {
            recordedIn = e.recordedInCapture;
            everRecorded = e.recordedOn != null;
        }
        if (recordedIn != null && recordedIn.ended) recordedIn = null; // its capture is over: as an event never recorded eagerly
        SimCapture capture = s.capture;
        if (capture != null && recordedIn != null && recordedIn != capture) {
            throw new IllegalStateException(name + ": stream " + s.id + " captures a graph and was asked to wait for an event recorded in another "
                    + "capture (CUDA refuses it: cudaErrorStreamCaptureMerge)");
        }
        if (capture != null && recordedIn == null && everRecorded) {
            throw new IllegalStateException(name + ": stream " + s.id + " captures a graph and was asked to wait for an event recorded outside "
                    + "the capture (CUDA refuses it: cudaErrorStreamCaptureIsolation); order that work before beginCapture");
        }
        return recordedIn;
    }

    @Override
    public void synchronize(Stream stream) {
        SimStream s = stream(stream);
        s.hostWaits.incrementAndGet();
        if (s.capture != null) throw new IllegalStateException(name + ": synchronize on stream " + s.id + " while it captures a graph");
        s.drain();
    }

    @Override
    public void synchronize(Event event) {
        SimEvent e = event(event);
        long target;
        SimStream on;
        synchronized (e) {
            target = e.recorded;
            on = e.recordedOn;
        }
        if (on != null) on.hostWaits.incrementAndGet();
        e.await(target, name);
    }

    @Override
    public boolean isComplete(Event event) {
        SimEvent e = event(event);
        synchronized (e) {
            return e.reached >= e.recorded;
        }
    }

    @Override
    public void beginCapture(Stream stream) {
        SimStream s = stream(stream);
        if (s.capture != null) throw new IllegalStateException(name + ": stream " + s.id + " already captures a graph");
        s.capture = new SimCapture(s);
        capturing.incrementAndGet();
    }

    /**
     * Ends the capture begun on {@code stream} (its origin), for every stream that joined it. A
     * joined stream whose last captured operation the origin does not follow (no wait of the
     * origin for an event recorded on it after that operation, directly or through other streams)
     * fails the capture, as {@code cudaStreamEndCapture} fails with
     * {@code cudaErrorStreamCaptureUnjoined}; the capture is over either way.
     */
    @Override
    public Graph endCapture(Stream stream) {
        SimStream s = stream(stream);
        SimCapture c = s.capture;
        if (c == null) throw new IllegalStateException(name + ": endCapture on stream " + s.id + ", which does not capture");
        if (c.origin != s) {
            throw new IllegalStateException(name + ": endCapture on stream " + s.id + ", which joined a capture begun on stream " + c.origin.id
                    + " (CUDA refuses it: cudaErrorStreamCaptureUnmatched); end it on its origin stream");
        }
        String unjoined;
        synchronized (c) {
            c.ended = true;
            for (SimStream m : c.members) m.capture = null;
            unjoined = c.unjoined();
        }
        capturing.decrementAndGet();
        if (unjoined != null) {
            throw new IllegalStateException(name + ": the capture begun on stream " + s.id + " ends with " + unjoined + " not joined back "
                    + "(CUDA refuses it: cudaErrorStreamCaptureUnjoined); record an event on each forked stream after its last work and "
                    + "make the origin stream wait for it before endCapture");
        }
        return new SimGraph(c);
    }

    @Override
    public boolean isCapturing(Stream stream) {
        return stream(stream).capture != null;
    }

    /**
     * Enqueues the graph as a whole on {@code stream}: the origin's operations on {@code stream}
     * itself, each joined stream's on a stream of the graph's own that starts after the work
     * enqueued on {@code stream} before the replay, and {@code stream}'s later work after all of
     * them, as a graph launch orders it. Operations are prepared in the order the host captured
     * them, so each captured wait waits for the captured record before it.
     */
    @Override
    public void replay(Graph graph, Stream stream) {
        if (!(graph instanceof SimGraph g) || g.device() != this) throw new IllegalArgumentException("graph " + graph + " does not belong to " + name);
        if (g.closed) throw new IllegalStateException(name + ": replay of a closed graph");
        SimStream s = stream(stream);
        if (s.capture != null) throw new IllegalStateException(name + ": replay of a graph into stream " + s.id + ", which captures (not simulated)");
        synchronized (g) {
            SimStream[] lanes = g.lanes(s);
            if (lanes.length > 1) {
                SimEvent start = g.start(s);
                for (int i = 1; i < lanes.length; i++) waitEvent(lanes[i], start); // after the launch stream's earlier work
            }
            for (Captured c : g.ops) {
                SimStream lane = lanes[c.lane()];
                lane.submit(c.op().what(), c.op().prepare());
            }
            for (int i = 1; i < lanes.length; i++) {
                record(g.laneDone[i], lanes[i]);
                waitEvent(s, g.laneDone[i]);
            }
            if (lanes.length > 1) {
                enqueue(s, "graph lanes' errors", () -> { // an error on a lane surfaces on the launch stream, as a graph's does
                    for (int i = 1; i < lanes.length; i++) lanes[i].rethrowError();
                });
            }
        }
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        for (SimStream s : streams) s.close();
        memory.clear();
        pinned.clear();
    }

    private void checkOpen() {
        if (closed) throw new IllegalStateException(name + " is closed");
    }

    @Override
    public String toString() {
        return name + " (simulated)";
    }

    /** A stream: a thread that runs its queue in order, after a random delay per operation. */
    private final class SimStream implements Stream {
        final int id;
        final Random delays;
        final java.util.ArrayDeque<Runnable> queue = new java.util.ArrayDeque<>();
        final Thread thread;
        volatile SimCapture capture;
        final AtomicInteger hostWaits = new AtomicInteger();
        boolean held;
        boolean closed;
        long submitted;
        long done;
        RuntimeException error;

        SimStream(int id, Random delays) {
            this.id = id;
            this.delays = delays;
            this.thread = new Thread(this::loop, name + "-stream-" + id);
            thread.setDaemon(true);
            thread.start();
        }

        @Override
        public DeviceApi device() {
            return SimulatedDevice.this;
        }

        @Override
        public int id() {
            return id;
        }

        synchronized void submit(String what, Runnable body) {
            if (closed) throw new IllegalStateException(name + ": stream " + id + " is closed");
            submitted++;
            queue.add(() -> {
                try {
                    body.run();
                } catch (RuntimeException e) {
                    synchronized (this) {
                        if (error == null) error = new DeviceException(name + ": " + what + " on stream " + id + " failed: " + e.getMessage(), e);
                    }
                }
            });
            notifyAll();
        }

        private void loop() {
            while (true) {
                Runnable next;
                synchronized (this) {
                    while (!closed && (queue.isEmpty() || held)) {
                        try {
                            wait();
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                    if (closed) return;
                    next = queue.poll();
                }
                if (options.maxDelayMicros() > 0) LockSupport.parkNanos(TimeUnit.MICROSECONDS.toNanos(delays.nextInt((int) options.maxDelayMicros() + 1)));
                next.run();
                synchronized (this) {
                    done++;
                    notifyAll();
                }
            }
        }

        synchronized void drain() {
            long target = submitted, deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_LIMIT_SECONDS);
            while (done < target) {
                if (held) throw new IllegalStateException(name + ": synchronize on stream " + id + " while the test holds it; release it first");
                long left = deadline - System.nanoTime();
                if (left <= 0) throw new DeviceException(name + ": stream " + id + " did not finish within " + WAIT_LIMIT_SECONDS + " s");
                try {
                    wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new DeviceException(name + ": interrupted while synchronising stream " + id);
                }
            }
            if (error != null) {
                RuntimeException e = error;
                error = null;
                throw e;
            }
        }

        /** Throws the error an operation of this stream raised, once (a graph lane's, on its launch stream). */
        synchronized void rethrowError() {
            if (error != null) {
                RuntimeException e = error;
                error = null;
                throw e;
            }
        }

        @Override
        public void close() {
            synchronized (this) {
                closed = true;
                notifyAll();
            }
            streams.remove(this);
        }

        @Override
        public String toString() {
            return name + " stream " + id;
        }
    }

    /** An operation of a capture, and the index of the stream it was captured on (0: the origin). */
    private record Captured(int lane, Op op) { }

    /**
     * One capture: its origin stream, the streams that joined it (in the order they did), its
     * operations in the order the host enqueued them, and per member a vector clock of how many
     * operations of each member it follows (CUDA's capture dependencies), for the join check.
     */
    private final class SimCapture {
        final SimStream origin;
        final List<SimStream> members = new ArrayList<>();
        final List<Captured> ops = new ArrayList<>();
        final Map<SimStream, Map<SimStream, Integer>> clocks = new java.util.HashMap<>();
        final Map<SimStream, Integer> counts = new java.util.HashMap<>();
        volatile boolean ended;

        SimCapture(SimStream origin) {
            this.origin = origin;
            join(origin);
        }

        private void join(SimStream s) {
            members.add(s);
            clocks.put(s, new java.util.HashMap<>());
            counts.put(s, 0);
            s.capture = this;
        }

        synchronized void add(SimStream s, Op op) {
            if (ended || s.capture != this) throw new IllegalStateException(name + ": stream " + s.id + " enqueued into a capture that has ended");
            ops.add(new Captured(members.indexOf(s), op));
            int n = counts.merge(s, 1, Integer::sum);
            clocks.get(s).put(s, n);
        }

        /** A record inside the capture: the event remembers the capture and what the recording stream follows. */
        synchronized void record(SimStream s, Op op, SimEvent e) {
            add(s, op);
            synchronized (e) {
                e.recordedOn = s;
                e.recordedInCapture = this;
                e.captureClock = Map.copyOf(clocks.get(s));
            }
        }

        /** A wait for an event recorded in this capture: {@code s} joins first when it is not in it (a fork). */
        synchronized void await(SimStream s, Op op, SimEvent e) {
            if (ended) throw new IllegalStateException(name + ": stream " + s.id + " waits for an event of a capture that has ended");
            if (s.capture == null) join(s);
            else if (s.capture != this) {
                throw new IllegalStateException(name + ": stream " + s.id + " captures another graph (cudaErrorStreamCaptureMerge)");
            }
            Map<SimStream, Integer> theirs;
            synchronized (e) {
                theirs = e.captureClock;
            }
            add(s, op);
            Map<SimStream, Integer> mine = clocks.get(s);
            if (theirs != null) theirs.forEach((k, v) -> mine.merge(k, v, Math::max));
        }

        /** The joined streams whose last operation the origin does not follow, or null. */
        String unjoined() {
            Map<SimStream, Integer> o = clocks.get(origin);
            StringBuilder out = new StringBuilder();
            for (SimStream m : members) {
                if (m == origin) continue;
                if (o.getOrDefault(m, 0) < counts.get(m)) out.append(out.length() > 0 ? ", " : "").append("stream ").append(m.id);
            }
            return out.length() == 0 ? null : out.toString();
        }
    }

    private final class SimEvent implements Event {
        /** Made by {@link #newTimingEvent}: keeps the time its recorded point ran at ({@code reachedNanos}). */
        final boolean timing;
        long recorded;
        long reached;
        long reachedNanos;
        /** The stream it was last recorded on, and the capture that recorded it (null when eager) with what it follows there. */
        SimStream recordedOn;
        SimCapture recordedInCapture;
        Map<SimStream, Integer> captureClock;

        SimEvent(boolean timing) {
            this.timing = timing;
        }

        @Override
        public DeviceApi device() {
            return SimulatedDevice.this;
        }

        synchronized void await(long target, String device) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_LIMIT_SECONDS);
            while (reached < target) {
                long left = deadline - System.nanoTime();
                if (left <= 0) throw new DeviceException(device + ": an event was not reached within " + WAIT_LIMIT_SECONDS + " s");
                try {
                    wait(Math.max(1, TimeUnit.NANOSECONDS.toMillis(left)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new DeviceException(device + ": interrupted while waiting for an event");
                }
            }
        }

        @Override
        public void close() { }
    }

    private final class SimGraph implements Graph {
        final List<Captured> ops;
        final int laneCount;
        /** The streams a replay runs the joined streams' operations on (made at the first replay), and its events. */
        SimStream[] ownLanes;
        SimEvent start;
        SimEvent[] laneDone;
        boolean closed;

        SimGraph(SimCapture c) {
            this.ops = List.copyOf(c.ops);
            this.laneCount = c.members.size();
        }

        /** The launch stream, then the graph's own streams for the joined ones. */
        SimStream[] lanes(SimStream launch) {
            if (ownLanes == null) {
                ownLanes = new SimStream[laneCount];
                laneDone = new SimEvent[laneCount];
                for (int i = 1; i < laneCount; i++) {
                    ownLanes[i] = (SimStream) newStream();
                    laneDone[i] = (SimEvent) newEvent();
                }
                start = (SimEvent) newEvent();
            }
            SimStream[] out = ownLanes.clone();
            out[0] = launch;
            return out;
        }

        /** An event recorded on the launch stream now: the joined streams' operations start after it. */
        SimEvent start(SimStream launch) {
            record(start, launch);
            return start;
        }

        @Override
        public DeviceApi device() {
            return SimulatedDevice.this;
        }

        @Override
        public int operations() {
            return ops.size();
        }

        @Override
        public void close() {
            closed = true;
            if (ownLanes != null) for (int i = 1; i < ownLanes.length; i++) ownLanes[i].close(); // the caller has synchronised its replays
        }
    }
}
