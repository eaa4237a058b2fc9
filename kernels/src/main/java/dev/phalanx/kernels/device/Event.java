package dev.phalanx.kernels.device;

/** A marker recorded on a stream: other streams can wait for it, the host can synchronise on it. */
public interface Event extends AutoCloseable {
    DeviceApi device();

    @Override
    void close();
}
