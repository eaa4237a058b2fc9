package dev.phalanx.kernels.device;

/**
 * Synchronous copies between Java arrays and device memory through a pinned staging buffer:
 * for tests, checkpoints and {@code item()}-like reads, not for the training loop (which copies
 * batches asynchronously through pinned buffers it keeps).
 */
public final class DeviceTransfers {

    private DeviceTransfers() { }

    public static void upload(DeviceApi d, Stream s, float[] src, DeviceBuffer dst) {
        HostBuffer h = d.mallocHost((long) src.length * Float.BYTES);
        try {
            h.putFloats(src);
            d.copyHostToDevice(h, 0, dst, (long) src.length * Float.BYTES, s);
            d.synchronize(s);
        } finally {
            d.freeHost(h);
        }
    }

    public static void upload(DeviceApi d, Stream s, long[] src, DeviceBuffer dst) {
        HostBuffer h = d.mallocHost((long) src.length * Long.BYTES);
        try {
            h.putLongs(0, src, 0, src.length);
            d.copyHostToDevice(h, 0, dst, (long) src.length * Long.BYTES, s);
            d.synchronize(s);
        } finally {
            d.freeHost(h);
        }
    }

    /** Waits for {@code s}, then returns the first {@code count} floats of {@code src}. */
    public static float[] download(DeviceApi d, Stream s, DeviceBuffer src, int count) {
        HostBuffer h = d.mallocHost((long) count * Float.BYTES);
        try {
            d.copyDeviceToHost(src, h, 0, (long) count * Float.BYTES, s);
            d.synchronize(s);
            return h.getFloats(0, count);
        } finally {
            d.freeHost(h);
        }
    }

    public static int[] downloadInts(DeviceApi d, Stream s, DeviceBuffer src, int count) {
        HostBuffer h = d.mallocHost((long) count * Integer.BYTES);
        try {
            d.copyDeviceToHost(src, h, 0, (long) count * Integer.BYTES, s);
            d.synchronize(s);
            return h.getInts(0, count);
        } finally {
            d.freeHost(h);
        }
    }

    public static long[] downloadLongs(DeviceApi d, Stream s, DeviceBuffer src, int count) {
        HostBuffer h = d.mallocHost((long) count * Long.BYTES);
        try {
            d.copyDeviceToHost(src, h, 0, (long) count * Long.BYTES, s);
            d.synchronize(s);
            return h.getLongs(0, count);
        } finally {
            d.freeHost(h);
        }
    }

    /** A new device buffer from the caching allocator holding {@code src}. */
    public static DeviceBuffer of(DeviceOps ops, Stream s, float[] src) {
        DeviceBuffer b = ops.floats(src.length, s);
        upload(ops.device(), s, src, b);
        return b;
    }
}
