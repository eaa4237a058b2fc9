package dev.phalanx.kernels.device;

/**
 * The work one stream captured between {@link DeviceApi#beginCapture} and
 * {@link DeviceApi#endCapture}, ready to be replayed as a whole on the same buffers: a replay
 * does what the captured calls did, bit for bit, with one launch.
 */
public interface Graph extends AutoCloseable {
    DeviceApi device();

    /** How many operations were captured. */
    int operations();

    @Override
    void close();
}
