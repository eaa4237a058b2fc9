package dev.phalanx.kernels;

import java.util.Objects;

import dev.phalanx.kernels.device.CachingAllocator;
import dev.phalanx.kernels.device.DeviceApi;
import dev.phalanx.kernels.device.DeviceOps;
import dev.phalanx.kernels.device.HostBuffer;
import dev.phalanx.kernels.device.Stream;

/**
 * What tensors on one device share: the opened device, its layer operations with their caching
 * allocator and convolution algorithm cache, the stream tensor ops run on (CUDA's current stream),
 * and a stream for copies to the host, so that a read-back orders itself after the work it reads
 * through an event, as it must when a tensor was written on another stream. One per device per
 * process ({@link DeviceContexts}), as a CUDA context is.
 */
public final class DeviceContext {

    private final Device device;
    private final DeviceApi api;
    private final DeviceOps ops;
    private final Stream compute;
    private final Stream copies;
    /** Replicas' streams, by replica index, made on first ask and kept as long as the context (see {@link #replicaStream}). */
    private final java.util.Map<Integer, Stream> replicaStreams = new java.util.concurrent.ConcurrentHashMap<>();
    /** Replicas' copy streams (their shards go up there while their previous step computes), kept as the replicas' streams are. */
    private final java.util.Map<Integer, Stream> replicaCopyStreams = new java.util.concurrent.ConcurrentHashMap<>();
    /**
     * The stream this thread's tensor ops enqueue on, when it has bound one ({@link #bind}); else
     * {@link #compute}. Per thread, as CUDA's current stream is per thread and device.
     */
    private final ThreadLocal<Stream> bound = new ThreadLocal<>();
    /** The pinned buffer uploads and read-backs go through; guarded by this context's lock. */
    private HostBuffer staging;
    /** The smallest staging buffer kept, so that small reads (item(), a loss) never reallocate. */
    static final long MIN_STAGING_BYTES = 1 << 16;

    public DeviceContext(Device device, DeviceApi api) {
        this.device = Objects.requireNonNull(device, "device");
        this.api = Objects.requireNonNull(api, "api");
        this.ops = new DeviceOps(api, new CachingAllocator(api));
        this.compute = api.newStream();
        this.copies = api.newStream();
    }

    public Device device() {
        return device;
    }

    public DeviceApi api() {
        return api;
    }

    public DeviceOps ops() {
        return ops;
    }

    public CachingAllocator allocator() {
        return ops.allocator();
    }

    /**
     * The stream tensor ops enqueue on (CUDA's current stream of this device): the one this thread
     * bound with {@link #bind}, else the context's compute stream.
     */
    public Stream stream() {
        Stream s = bound.get();
        return s != null ? s : compute;
    }

    /**
     * The stream of data-parallel replica {@code replica} on this device, made the first time it is
     * asked for and kept as long as the context: several replicas on one device each enqueue on
     * their own (issue #9), and a later runtime's replica {@code replica} reuses it, with the blocks
     * the caching allocator keeps for it. Streams are never closed while the context lives, since
     * blocks freed later may still name them.
     */
    public Stream replicaStream(int replica) {
        if (replica < 0) throw new IllegalArgumentException("replica index must be >= 0, got " + replica);
        return replicaStreams.computeIfAbsent(replica, r -> api.newStream());
    }

    /**
     * The copy stream of data-parallel replica {@code replica} on this device, made on first ask and
     * kept as {@link #replicaStream}: each replica's shard is copied up on its own, so that one
     * replica's upload never queues behind another's (issue #9, item 1).
     */
    public Stream replicaCopyStream(int replica) {
        if (replica < 0) throw new IllegalArgumentException("replica index must be >= 0, got " + replica);
        return replicaCopyStreams.computeIfAbsent(replica, r -> api.newStream());
    }

    /**
     * Makes {@code s} this thread's stream for tensor ops on this device until the scope closes
     * ({@code torch.cuda.stream(s)}); scopes nest. A replica binds its stream per message, as it
     * binds its CPU backend.
     */
    public StreamScope bind(Stream s) {
        Stream previous = bound.get();
        bound.set(java.util.Objects.requireNonNull(s, "stream"));
        return new StreamScope(this, previous);
    }

    /** Restores the stream bound before. */
    public static final class StreamScope implements AutoCloseable {
        private final DeviceContext context;
        private final Stream previous;

        private StreamScope(DeviceContext context, Stream previous) {
            this.context = context;
            this.previous = previous;
        }

        @Override
        public void close() {
            if (previous == null) context.bound.remove(); else context.bound.set(previous);
        }
    }

    /**
     * Blocks the host until everything enqueued so far on this device's streams (the compute
     * stream, the copy stream and every replica's, copy streams included) has run, as {@code torch.cuda.synchronize()};
     * rethrows their errors. A benchmark that enqueues steps ahead calls it before reading the clock.
     */
    public void synchronize() {
        api.synchronize(compute);
        api.synchronize(copies);
        for (Stream s : replicaStreams.values()) api.synchronize(s);
        for (Stream s : replicaCopyStreams.values()) api.synchronize(s);
    }

    /** The stream copies to the host run on; each waits for the stream that last wrote what it reads. */
    public Stream copyStream() {
        return copies;
    }

    /**
     * Runs {@code copy} with a pinned staging buffer of at least {@code bytes}, one copy at a time:
     * the buffer is kept and grown, never freed per copy ({@code cudaFreeHost} would wait for the
     * whole device). {@code copy} must have finished with the buffer when it returns (it
     * synchronises its copy).
     */
    public synchronized <T> T withStaging(long bytes, java.util.function.Function<HostBuffer, T> copy) {
        if (staging == null || staging.bytes() < bytes) {
            if (staging != null) api.freeHost(staging);
            staging = null;
            staging = api.mallocHost(Math.max(bytes, MIN_STAGING_BYTES));
        }
        return copy.apply(staging);
    }

    @Override
    public String toString() {
        return "DeviceContext[" + device + "]";
    }
}
