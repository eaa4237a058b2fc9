package dev.phalanx.kernels;

import java.util.Objects;

import dev.phalanx.kernels.device.CachingAllocator;
import dev.phalanx.kernels.device.DeviceApi;
import dev.phalanx.kernels.device.DeviceOps;
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

    @Override
    public String toString() {
        return "DeviceContext[" + device + "]";
    }
}
