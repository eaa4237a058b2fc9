package dev.phalanx.kernels.device;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * Page-locked host memory that a device copies from and to asynchronously (what batches go
 * through on their way to the device). The bytes are ordinary host memory, readable here; but
 * after an asynchronous copy they are only valid once the copy's stream or an event after it has
 * been synchronised.
 */
public final class HostBuffer {

    private final DeviceApi device;
    private final long handle;
    private final ByteBuffer bytes;

    /** For device implementations: {@code bytes} is the pinned memory, {@code handle} its address or id. */
    public HostBuffer(DeviceApi device, long handle, ByteBuffer bytes) {
        this.device = Objects.requireNonNull(device, "device");
        this.handle = handle;
        this.bytes = bytes.order(ByteOrder.LITTLE_ENDIAN);
    }

    public DeviceApi device() {
        return device;
    }

    public long handle() {
        return handle;
    }

    public long bytes() {
        return bytes.capacity();
    }

    /** The memory itself, little-endian (what CUDA devices use). */
    public ByteBuffer buffer() {
        return bytes;
    }

    public HostBuffer putFloats(long byteOffset, float[] src, int from, int count) {
        check(byteOffset, (long) count * Float.BYTES);
        bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN).position((int) byteOffset).asFloatBuffer().put(src, from, count);
        return this;
    }

    public HostBuffer putFloats(float[] src) {
        return putFloats(0, src, 0, src.length);
    }

    public float[] getFloats(long byteOffset, int count) {
        check(byteOffset, (long) count * Float.BYTES);
        float[] out = new float[count];
        bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN).position((int) byteOffset).asFloatBuffer().get(out);
        return out;
    }

    public HostBuffer putLongs(long byteOffset, long[] src, int from, int count) {
        check(byteOffset, (long) count * Long.BYTES);
        bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN).position((int) byteOffset).asLongBuffer().put(src, from, count);
        return this;
    }

    public long[] getLongs(long byteOffset, int count) {
        check(byteOffset, (long) count * Long.BYTES);
        long[] out = new long[count];
        bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN).position((int) byteOffset).asLongBuffer().get(out);
        return out;
    }

    public int[] getInts(long byteOffset, int count) {
        check(byteOffset, (long) count * Integer.BYTES);
        int[] out = new int[count];
        bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN).position((int) byteOffset).asIntBuffer().get(out);
        return out;
    }

    private void check(long byteOffset, long length) {
        if (byteOffset < 0 || byteOffset + length > bytes.capacity()) {
            throw new IndexOutOfBoundsException("bytes [" + byteOffset + ", " + (byteOffset + length) + ") of a " + bytes.capacity()
                    + "-byte pinned host buffer");
        }
    }
}
