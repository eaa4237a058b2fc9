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

    private static final class Block {
        final DeviceBuffer raw;
        final Stream stream;
        final Set<Stream> usedOn = new HashSet<>();
        final List<Event> freeEvents = new ArrayList<>();
        boolean inUse;

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
        collectPending();
        Block b = takeCached(stream, size);
        if (b == null) b = fresh(size, stream);
        b.inUse = true;
        allocated += b.size();
        peakAllocated = Math.max(peakAllocated, allocated);
        return b.raw.slice(0, bytes);
    }

    private Block takeCached(Stream stream, long size) {
        TreeMap<Long, ArrayDeque<Block>> pool = pools.get(stream);
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
