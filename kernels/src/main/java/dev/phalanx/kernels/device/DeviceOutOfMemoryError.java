package dev.phalanx.kernels.device;

import java.util.Locale;

/**
 * A device could not allocate: names the device, the size asked and the memory free, as
 * PyTorch's "CUDA out of memory. Tried to allocate ..." does. A checked state, not a JVM error:
 * the caller can free memory (the caching allocator empties its cache) and try again.
 */
public final class DeviceOutOfMemoryError extends RuntimeException {

    private final String device;
    private final long requested;
    private final long free;

    public DeviceOutOfMemoryError(String device, long requested, long free, long total, long reserved, long allocated) {
        super(String.format(Locale.ROOT,
                "%s out of memory: tried to allocate %s; %s free of %s total; Phalanx holds %s (%s in use, the rest cached)."
                        + " Use a smaller batch size or fewer replicas on this device",
                device, human(requested), human(free), human(total), human(reserved), human(allocated)));
        this.device = device;
        this.requested = requested;
        this.free = free;
    }

    public String device() {
        return device;
    }

    public long requested() {
        return requested;
    }

    public long free() {
        return free;
    }

    static String human(long bytes) {
        if (bytes < 1024) return bytes + " B";
        if (bytes < 1024L * 1024) return String.format(Locale.ROOT, "%.1f KiB", bytes / 1024.0);
        if (bytes < 1024L * 1024 * 1024) return String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024));
        return String.format(Locale.ROOT, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
    }
}
