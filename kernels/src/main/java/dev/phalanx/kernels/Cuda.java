package dev.phalanx.kernels;

import dev.phalanx.kernels.cuda.CudaProbe;

/**
 * What {@code torch.cuda} answers about this machine: whether a usable GPU is there, how many, and
 * if none, why. Probing loads the CUDA runtime once per process; it never throws.
 */
public final class Cuda {

    private Cuda() { }

    /** Whether the driver, the CUDA 13 runtime and at least one GPU are there. */
    public static boolean isAvailable() {
        return CudaProbe.probe().available();
    }

    /** How many GPUs there are; 0 when CUDA is not usable. */
    public static int deviceCount() {
        return CudaProbe.probe().gpus().size();
    }

    /** Why there is no usable GPU, in one line; empty when there is one. */
    public static String unavailableReason() {
        return CudaProbe.probe().reason();
    }

    /**
     * Bytes of {@code device}'s memory that tensors hold now, as {@code torch.cuda.memory_allocated}; 0 for a
     * device no tensor has gone to yet. Takes {@code sim:N} too.
     */
    public static long memoryAllocated(Device device) {
        return DeviceContexts.memoryAllocated(device);
    }

    /**
     * Waits until everything enqueued on {@code device} so far has run, as {@code torch.cuda.synchronize(device)};
     * takes {@code sim:N} too. Nothing to wait for on the cpu or on a device no tensor has gone to yet.
     */
    public static void synchronize(Device device) {
        DeviceContext c = device.isCpu() ? null : DeviceContexts.ifOpen(device);
        if (c != null) c.synchronize();
    }

    /** Bytes the caching allocator of {@code device} holds, in use or cached, as {@code torch.cuda.memory_reserved}. */
    public static long memoryReserved(Device device) {
        return DeviceContexts.memoryReserved(device);
    }
}
