package dev.phalanx.kernels.device;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * One device's memory for tensors, as PyTorch's CUDA caching allocator keeps it: a freed block
 * goes back to a pool of its stream, not to the driver, and the next request of about its size
 * on that stream takes it again, so the steady state of training calls {@code malloc} never.
 * Reuse on the stream a block was allocated on is safe without synchronisation (stream order);
 * a block that other streams used ({@link #recordStream}) is reused only once events recorded
 * on those streams at its free have completed. When the device is out of memory, the cache is
 * emptied (its streams synchronised first) and the request tried once more; then the error names
 * the device, the size asked, the memory free, and what Phalanx holds.
 *
 * <p>Graph capture (issue #9): between {@link #beginCapture} and {@link #endCapture}, requests on
 * the capturing stream are served from a private {@link GraphPool}, as PyTorch's graph pools: its
 * blocks are set aside before the capture (sized from a warm-up step's requests, {@link #startTrace}),
 * go back to the pool when freed, and return to the shared cache only when the pool is closed with
 * its graph, since a replay writes them whatever Java holds. A request the pool cannot serve goes
 * to the device's {@code malloc}, which a capture refuses on the simulated device. A free during a
 * capture of a block other streams used is deferred to its end (recording its events on a
 * capturing stream would capture them), as PyTorch defers them. A capture across streams (several
 * replicas' streams joined to one graph) has one pool with the blocks of each of its streams set
 * aside from that stream's warm-up requests ({@link #beginCapture(Map)}).
 *
 * <p>Sizes are rounded up to {@value #ROUND} bytes; blocks are not split, and a cached block is
 * taken for a request only when it is at most twice the rounded size, so waste stays bounded.
 * Thread-safe: the replicas sharing a device share its allocator.
 */
public final class CachingAllocator {

    /** Granularity of block sizes, as PyTorch's {@code kMinBlockSize}. */
    public static final long ROUND = 512;
    /** A cached block serves a request when it is at most this many times the request's rounded size. */
    static final long MAX_REUSE_RATIO = 2;

    private final DeviceApi device;
    private final Map<Long, Block> byHandle = new HashMap<>();
    private final Map<Stream, TreeMap<Long, ArrayDeque<Block>>> pools = new HashMap<>();
    private final List<Block> pending = new ArrayList<>();
    private long allocated;
    private long reserved;
    private long peakAllocated;
    private int deviceMallocs;
    private GraphPool capturing;
    private final List<Block> deferredFrees = new ArrayList<>();
    private final Map<Stream, List<Long>> traces = new HashMap<>();

    /**
     * The memory of one captured graph: blocks handed out during its capture, kept for it while it
     * lives (its replays write them), back in the shared cache once closed.
     */
    public final class GraphPool implements AutoCloseable {
        /** Free blocks per capturing stream: each stream's requests are served from the blocks set aside for it. */
        private final Map<Stream, TreeMap<Long, ArrayDeque<Block>>> free = new HashMap<>();
        private long bytes;
        private boolean closed;

        private GraphPool(Set<Stream> streams) {
            for (Stream s : streams) free.put(s, new TreeMap<>());
        }

        private TreeMap<Long, ArrayDeque<Block>> freeOf(Stream s) {
            return free.computeIfAbsent(s, k -> new TreeMap<>());
        }

        /** Bytes of device memory the pool holds, in use or free. */
        public long bytes() {
            synchronized (CachingAllocator.this) {
                return bytes;
            }
        }

        /** Gives the pool's free blocks to the shared cache; blocks still in use go there when freed. Call after the graph is closed. */
        @Override
        public void close() {
            synchronized (CachingAllocator.this) {
                if (closed) return;
                if (capturing == this) throw new IllegalStateException(device.name() + ": a graph pool closed during its capture; end the capture first");
                closed = true;
                for (TreeMap<Long, ArrayDeque<Block>> perStream : free.values()) {
                    for (ArrayDeque<Block> q : perStream.values()) {
                        for (Block b : q) {
                            b.pool = null;
                            cache(b);
                        }
                    }
                }
                free.clear();
            }
        }
    }

    private static final class Block {
        final DeviceBuffer raw;
        final Stream stream;
        final Set<Stream> usedOn = new HashSet<>();
        final List<Event> freeEvents = new ArrayList<>();
        boolean inUse;
        /** The graph pool it belongs to, or null for the shared cache. */
        GraphPool pool;

        Block(DeviceBuffer raw, Stream stream) {
            this.raw = raw;
            this.stream = stream;
        }

        long size() {
            return raw.bytes();
        }
    }

    public CachingAllocator(DeviceApi device) {
        this.device = device;
    }

    public DeviceApi device() {
        return device;
    }

    static long round(long bytes) {
        if (bytes <= 0) return ROUND;
        return (bytes + ROUND - 1) / ROUND * ROUND;
    }

    /** {@code bytes} of device memory for work on {@code stream}. The buffer is exactly {@code bytes} long. */
    public synchronized DeviceBuffer allocate(long bytes, Stream stream) {
        if (bytes < 0) throw new IllegalArgumentException(device.name() + ": cannot allocate " + bytes + " bytes");
        long size = round(bytes);
        List<Long> trace = traces.get(stream);
        if (trace != null) trace.add(size);
        Block b;
        if (capturing != null && capturing.free.containsKey(stream)) {
            b = take(capturing.free.get(stream), size);
            if (b == null) { // not set aside: the device's malloc, refused during a capture on the simulated device
                b = fresh(size, stream);
                b.pool = capturing;
                capturing.bytes += b.size();
            }
        } else {
            collectPending();
            b = takeCached(stream, size);
            if (b == null) b = fresh(size, stream);
        }
        b.inUse = true;
        allocated += b.size();
        peakAllocated = Math.max(peakAllocated, allocated);
        return b.raw.slice(0, bytes);
    }

    private Block takeCached(Stream stream, long size) {
        return take(pools.get(stream), size);
    }

    private static Block take(TreeMap<Long, ArrayDeque<Block>> pool, long size) {
        if (pool == null) return null;
        Map.Entry<Long, ArrayDeque<Block>> e = pool.ceilingEntry(size);
        if (e == null || e.getKey() > size * MAX_REUSE_RATIO) return null;
        Block b = e.getValue().poll();
        if (e.getValue().isEmpty()) pool.remove(e.getKey());
        return b;
    }

    private Block fresh(long size, Stream stream) {
        DeviceBuffer raw;
        try {
            raw = device.malloc(size);
        } catch (DeviceOutOfMemoryError first) {
            emptyCache();
            try {
                raw = device.malloc(size);
            } catch (DeviceOutOfMemoryError again) {
                MemoryInfo info = device.memoryInfo();
                throw new DeviceOutOfMemoryError(device.name(), size, info.freeBytes(), info.totalBytes(), reserved, allocated);
            }
        }
        deviceMallocs++;
        reserved += size;
        Block b = new Block(raw, stream);
        byHandle.put(raw.handle(), b);
        return b;
    }

    /** Marks that work on {@code stream} uses {@code buffer}, so that its block is not reused before that work is done. */
    public synchronized void recordStream(DeviceBuffer buffer, Stream stream) {
        Block b = block(buffer);
        if (stream != b.stream) b.usedOn.add(stream);
    }

    /** Returns a buffer from {@link #allocate}. Work already enqueued on its stream may still use it: that is safe. */
    public synchronized void free(DeviceBuffer buffer) {
        Block b = block(buffer);
        if (!b.inUse) throw new IllegalStateException(device.name() + ": double free of " + buffer);
        b.inUse = false;
        allocated -= b.size();
        if (b.pool != null && !b.pool.closed) { // a graph's block: its replays use it whatever Java holds
            b.usedOn.clear();
            b.pool.freeOf(b.stream).computeIfAbsent(b.size(), k -> new ArrayDeque<>()).add(b);
            return;
        }
        b.pool = null;
        if (capturing != null && !b.usedOn.isEmpty()) { // its events would be recorded into the capture: after it
            deferredFrees.add(b);
            return;
        }
        release(b);
    }

    private void release(Block b) {
        if (b.usedOn.isEmpty()) {
            cache(b);
        } else {
            for (Stream s : b.usedOn) {
                Event e = device.newEvent();
                device.record(e, s);
                b.freeEvents.add(e);
            }
            b.usedOn.clear();
            pending.add(b);
        }
    }

    private Block block(DeviceBuffer buffer) {
        buffer.checkOn(device);
        Block b = byHandle.get(buffer.handle());
        if (b == null || buffer.offset() != 0) {
            throw new IllegalArgumentException(device.name() + ": " + buffer + " did not come from this caching allocator");
        }
        return b;
    }

    private void cache(Block b) {
        pools.computeIfAbsent(b.stream, s -> new TreeMap<>()).computeIfAbsent(b.size(), s -> new ArrayDeque<>()).add(b);
    }

    private void collectPending() {
        for (Iterator<Block> it = pending.iterator(); it.hasNext(); ) {
            Block b = it.next();
            boolean done = true;
            for (Event e : b.freeEvents) done &= device.isComplete(e);
            if (done) {
                for (Event e : b.freeEvents) e.close();
                b.freeEvents.clear();
                it.remove();
                cache(b);
            }
        }
    }

    /** Gives every cached block back to the device, after the streams that may still use them have finished. */
    public synchronized void emptyCache() {
        for (Block b : pending) {
            for (Event e : b.freeEvents) {
                device.synchronize(e);
                e.close();
            }
            b.freeEvents.clear();
            cache(b);
        }
        pending.clear();
        for (Map.Entry<Stream, TreeMap<Long, ArrayDeque<Block>>> e : pools.entrySet()) {
            device.synchronize(e.getKey());
            for (ArrayDeque<Block> q : e.getValue().values()) {
                for (Block b : q) {
                    device.free(b.raw);
                    byHandle.remove(b.raw.handle());
                    reserved -= b.size();
                }
            }
        }
        pools.clear();
    }

    /**
     * Records the rounded size of every request on {@code stream} until {@link #stopTrace}: a warm-up
     * step's, from which {@link #beginCapture} sets a graph's blocks aside.
     */
    public synchronized void startTrace(Stream stream) {
        traces.put(stream, new ArrayList<>());
    }

    /** Stops every trace; the requests of the stream traced (one stream: {@link #startTrace} once). */
    public synchronized List<Long> stopTrace() {
        List<Long> out = new ArrayList<>();
        for (List<Long> t : traces.values()) out.addAll(t);
        traces.clear();
        return List.copyOf(out);
    }

    /** Stops the trace of {@code stream} alone (several replicas' streams are traced at once); its requests. */
    public synchronized List<Long> stopTrace(Stream stream) {
        List<Long> t = traces.remove(stream);
        return t == null ? List.of() : List.copyOf(t);
    }

    /**
     * Starts serving {@code stream}'s requests from a new graph pool, for a capture about to begin
     * on it: one block per size in {@code expected} is set aside first (from the shared cache of
     * the stream, else the device), since the device refuses {@code malloc} during a capture.
     */
    public synchronized GraphPool beginCapture(Stream stream, List<Long> expected) {
        return beginCapture(Map.of(stream, expected));
    }

    /**
     * {@link #beginCapture(Stream, List)} for a capture across streams: each stream's requests are
     * served from the blocks set aside for it from its own expected sizes (its warm-up's trace).
     */
    public synchronized GraphPool beginCapture(Map<Stream, List<Long>> expected) {
        if (capturing != null) throw new IllegalStateException(device.name() + ": a capture is under way already");
        GraphPool pool = new GraphPool(expected.keySet());
        collectPending();
        for (Map.Entry<Stream, List<Long>> e : expected.entrySet()) {
            Stream stream = e.getKey();
            for (long size : e.getValue()) {
                Block b = takeCached(stream, size);
                if (b == null) b = fresh(size, stream);
                b.pool = pool;
                pool.bytes += b.size();
                pool.freeOf(stream).computeIfAbsent(b.size(), k -> new ArrayDeque<>()).add(b);
            }
        }
        capturing = pool;
        return pool;
    }

    /** Ends the capture: requests on its stream go to the shared cache again, and the deferred frees are done. */
    public synchronized void endCapture() {
        capturing = null;
        for (Block b : deferredFrees) release(b);
        deferredFrees.clear();
    }

    /** Bytes in blocks handed out now (rounded sizes), as {@code torch.cuda.memory_allocated}. */
    public synchronized long memoryAllocated() {
        return allocated;
    }

    /** Bytes this allocator holds from the device, in use or cached, as {@code torch.cuda.memory_reserved}. */
    public synchronized long memoryReserved() {
        return reserved;
    }

    public synchronized long peakAllocated() {
        return peakAllocated;
    }

    /** How many times this allocator called the device's {@code malloc}. */
    public synchronized int deviceMallocs() {
        return deviceMallocs;
    }
}
