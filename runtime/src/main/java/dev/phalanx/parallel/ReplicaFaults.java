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

    /** After a replica applied the optimizer step {@code step}. */
    default void afterApply(int replica, long step, Module model) { }
}
