package dev.phalanx.kernels.device;

import java.util.List;

/**
 * Sums float32 gradient buffers across replicas on the device, every replica receiving the same
 * bits. Asynchronous like every device call: each replica's stream sees the sum in its own order
 * of work, after the call's enqueued operations.
 */
public interface AllReduceGroup extends AutoCloseable {

    int size();

    /** {@code buffers.get(i)} on {@code streams.get(i)}, all of the same length, replaced by their sum. */
    void allReduceSum(List<DeviceBuffer> buffers, List<Stream> streams);

    @Override
    void close();
}
