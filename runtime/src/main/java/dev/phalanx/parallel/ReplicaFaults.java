package dev.phalanx.parallel;

import dev.phalanx.nn.Module;

/**
 * Hooks called on a replica's own thread, for fault-injection tests: throw to simulate a
 * crash, block to simulate a hang, or change the model to simulate silent divergence.
 */
public interface ReplicaFaults {

    ReplicaFaults NONE = new ReplicaFaults() { };

    /** Before a replica computes its shard of training step {@code step}. */
    default void beforeCompute(int replica, long step) throws Exception { }

    /**
     * Whether a device replica's stream waits for its shard's copy up in training step
     * {@code step}: false leaves the wait out on purpose, for the test that shows the step then
     * computes on the stale shard of the step before last (the copy stream held).
     */
    default boolean waitsForShardUpload(int replica, long step) {
        return true;
    }

    /**
     * Whether replica 0's stream, which captures the replicas' step into one graph, waits for
     * replica {@code replica}'s join event before the capture ends: false leaves the join out on
     * purpose, for the test that shows the capture then fails ({@code cudaErrorStreamCaptureUnjoined}).
     */
    default boolean joinsCaptureBack(int replica) {
        return true;
    }

    /** After a replica applied the optimizer step {@code step}. */
    default void afterApply(int replica, long step, Module model) { }
}
