package dev.phalanx.kernels;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import dev.phalanx.kernels.cuda.CudaDevice;
import dev.phalanx.kernels.device.SimulatedDevice;

/**
 * The open devices of this process: one {@link DeviceContext} per {@code cuda:N} or {@code sim:N},
 * opened the first time a tensor goes there and kept until the process ends.
 *
 * <p>This is process state, not the global mutable state the project rules forbid in tensors and
 * kernels: a device context is a resource of the process, as a CUDA context is (the driver keeps
 * exactly one primary context per GPU per process, whatever the Java code does), and two contexts
 * for one GPU would split its memory between two caching allocators that cannot see each other's
 * free blocks. The map only grows, each entry is created once under the map's lock and never
 * replaced, and nothing in it changes what an op computes: it is where an op finds the device its
 * tensors already live on.
 */
public final class DeviceContexts {

    private static final Map<Device, DeviceContext> OPEN = new ConcurrentHashMap<>();

    private DeviceContexts() { }

    /**
     * The context of {@code device}, opening it on first use: {@code sim:N} is a
     * {@link SimulatedDevice} with its default options, {@code cuda:N} a {@link CudaDevice} (which
     * fails with one line, {@code no CUDA device: <reason>}, where there is none).
     */
    public static DeviceContext of(Device device) {
        if (device.isCpu()) throw new IllegalArgumentException("the cpu has no device context: its tensors live in Java arrays");
        return OPEN.computeIfAbsent(device, DeviceContexts::open);
    }

    /**
     * Opens {@code sim:index} with {@code options} (a small memory, other delays) instead of the
     * defaults, for tests; fails if that device is open already.
     */
    public static DeviceContext openSimulated(int index, SimulatedDevice.Options options) {
        Device device = Device.sim(index);
        DeviceContext fresh = new DeviceContext(device, new SimulatedDevice(index, options));
        DeviceContext had = OPEN.putIfAbsent(device, fresh);
        if (had != null) {
            fresh.api().close();
            throw new IllegalStateException(device + " is open already, with the options it was opened with");
        }
        return fresh;
    }

    /** The context of {@code device} if a tensor has been there, else null (asks nothing of the driver). */
    public static DeviceContext ifOpen(Device device) {
        return OPEN.get(device);
    }

    private static DeviceContext open(Device device) {
        return switch (device.kind()) {
            case SIM -> new DeviceContext(device, new SimulatedDevice(device.index()));
            case CUDA -> new DeviceContext(device, CudaDevice.open(device.index()));
            case CPU -> throw new AssertionError("checked above");
        };
    }

    /** Bytes of {@code device}'s memory that tensors hold now (rounded as the caching allocator rounds), as {@code torch.cuda.memory_allocated}. */
    public static long memoryAllocated(Device device) {
        DeviceContext c = device.isCpu() ? null : ifOpen(device);
        return c == null ? 0 : c.allocator().memoryAllocated();
    }

    /** Bytes the caching allocator holds from {@code device}, in use or cached, as {@code torch.cuda.memory_reserved}. */
    public static long memoryReserved(Device device) {
        DeviceContext c = device.isCpu() ? null : ifOpen(device);
        return c == null ? 0 : c.allocator().memoryReserved();
    }
}
