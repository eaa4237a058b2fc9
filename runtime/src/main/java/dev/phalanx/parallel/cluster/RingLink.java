package dev.phalanx.parallel.cluster;

import java.time.Duration;
import java.util.concurrent.TimeoutException;

import dev.phalanx.protocol.cluster.RingChunk;

/**
 * A node's place in the ring: frames go to the right neighbour and come from the left one, in
 * order. {@link TcpDataChannel} is the real one; tests may join links in memory.
 */
public interface RingLink extends AutoCloseable {

    /** Queues a frame for the right neighbour; it may block while the channel's buffer is full. */
    void send(RingChunk chunk);

    /** The next frame from the left neighbour, waiting at most {@code timeout}. */
    RingChunk receive(Duration timeout) throws TimeoutException, InterruptedException;

    /** Payload bytes (the gradient values) sent so far. */
    long bytesSent();

    @Override
    void close();
}
