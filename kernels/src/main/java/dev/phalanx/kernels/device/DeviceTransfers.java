package dev.phalanx.kernels.device;

/**
 * Synchronous copies between Java arrays and device memory through a pinned staging buffer:
 * for tests, checkpoints and {@code item()}-like reads, not for the training loop (which copies
 * batches asynchronously through pinned buffers it keeps).
 */
public final class DeviceTransfers {

    private DeviceTransfers() { }

    public static void upload(DeviceApi d, Stream s, float[] src, DeviceBuffer dst) {
        upload(d, s, (long) src.length * Float.BYTES, h -> h.putFloats(src), dst);
    }

    public static void upload(DeviceApi d, Stream s, long[] src, DeviceBuffer dst) {
        upload(d, s, (long) src.length * Long.BYTES, h -> h.putLongs(0, src, 0, src.length), dst);
    }

    /** Raw bytes, for the kernels of other element types (little-endian, as devices keep them). */
    public static void uploadBytes(DeviceApi d, Stream s, byte[] src, DeviceBuffer dst) {
        upload(d, s, src.length, h -> h.buffer().duplicate().put(src), dst);
    }

    public static byte[] downloadBytes(DeviceApi d, Stream s, DeviceBuffer src, int count) {
        return download(d, s, src, count, h -> {
            byte[] out = new byte[count];
            h.buffer().duplicate().get(out);
            return out;
        });
    }

    /** Waits for {@code s}, then returns the first {@code count} floats of {@code src}. */
    public static float[] download(DeviceApi d, Stream s, DeviceBuffer src, int count) {
        return download(d, s, src, (long) count * Float.BYTES, h -> h.getFloats(0, count));
    }

    public static int[] downloadInts(DeviceApi d, Stream s, DeviceBuffer src, int count) {
        return download(d, s, src, (long) count * Integer.BYTES, h -> h.getInts(0, count));
    }

    public static long[] downloadLongs(DeviceApi d, Stream s, DeviceBuffer src, int count) {
        return download(d, s, src, (long) count * Long.BYTES, h -> h.getLongs(0, count));
    }

    /** Fills a pinned staging buffer of {@code bytes}, copies it to {@code dst} and waits for the copy. */
    private static void upload(DeviceApi d, Stream s, long bytes, java.util.function.Consumer<HostBuffer> fill, DeviceBuffer dst) {
        HostBuffer h = d.mallocHost(bytes);
        try {
            fill.accept(h);
            d.copyHostToDevice(h, 0, dst, bytes, s);
            d.synchronize(s);
        } finally {
            d.freeHost(h);
        }
    }

    /** Copies {@code bytes} of {@code src} into a pinned staging buffer, waits, and reads them out. */
    private static <T> T download(DeviceApi d, Stream s, DeviceBuffer src, long bytes, java.util.function.Function<HostBuffer, T> read) {
        HostBuffer h = d.mallocHost(bytes);
        try {
            d.copyDeviceToHost(src, h, 0, bytes, s);
            d.synchronize(s);
            return read.apply(h);
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
