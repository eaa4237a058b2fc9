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

    /** The stream tensor ops enqueue on (CUDA's current stream of this device). */
    public Stream stream() {
        return compute;
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
