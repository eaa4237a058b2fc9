package dev.phalanx.kernels.device;

/**
 * An ordered queue of device work. Work on one stream runs in the order it was enqueued; work on
 * two streams may run in any order unless an {@link Event} orders it. Each replica has its own.
 * Implementations are private to their device.
 */
public interface Stream extends AutoCloseable {
    DeviceApi device();

    /** A number unique on its device, for messages. */
    int id();

    @Override
    void close();
}
