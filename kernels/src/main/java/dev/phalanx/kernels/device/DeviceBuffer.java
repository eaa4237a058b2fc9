package dev.phalanx.kernels.device;

import java.util.Objects;

/**
 * An opaque range of one device's memory: the device that owns it, a handle that only that
 * device understands (a device address on CUDA, an allocation id on the simulated device), a
 * byte offset into the allocation and a length. There is no way to read the bytes from here:
 * reading device memory takes a copy through {@link DeviceApi}.
 */
public final class DeviceBuffer {

    private final DeviceApi device;
    private final long handle;
    private final long offset;
    private final long bytes;

    private DeviceBuffer(DeviceApi device, long handle, long offset, long bytes) {
        this.device = Objects.requireNonNull(device, "device");
        if (offset < 0 || bytes < 0) throw new IllegalArgumentException("offset and bytes must be >= 0, got " + offset + ", " + bytes);
        this.handle = handle;
        this.offset = offset;
        this.bytes = bytes;
    }

    /** For device implementations: the whole allocation behind {@code handle}. */
    public static DeviceBuffer of(DeviceApi device, long handle, long bytes) {
        return new DeviceBuffer(device, handle, 0, bytes);
    }

    public DeviceApi device() {
        return device;
    }

    /** The allocation's handle, meaningful only to {@link #device()}. */
    public long handle() {
        return handle;
    }

    /** Bytes from the start of the allocation. */
    public long offset() {
        return offset;
    }

    public long bytes() {
        return bytes;
    }

    /** Whole float32 elements in this range. */
    public long floats() {
        return bytes / Float.BYTES;
    }

    /** The sub-range [from, from + length) in bytes, relative to this range. */
    public DeviceBuffer slice(long from, long length) {
        if (from < 0 || length < 0 || from + length > bytes) {
            throw new IndexOutOfBoundsException("slice [" + from + ", " + (from + length) + ") of a " + bytes + "-byte device buffer on " + device.name());
        }
        return new DeviceBuffer(device, handle, offset + from, length);
    }

    /** The sub-range of float32 elements [from, from + count). */
    public DeviceBuffer floats(long from, long count) {
        return slice(from * Float.BYTES, count * Float.BYTES);
    }

    /** Throws unless this buffer belongs to {@code api}, naming both devices. */
    public DeviceBuffer checkOn(DeviceApi api) {
        if (device != api) {
            throw new IllegalArgumentException("a buffer on " + device.name() + " was passed to " + api.name()
                    + ": copy it to " + api.name() + " first");
        }
        return this;
    }

    @Override
    public String toString() {
        return "DeviceBuffer[" + device.name() + " #" + Long.toHexString(handle) + (offset != 0 ? " +" + offset : "") + ", " + bytes + " B]";
    }
}
