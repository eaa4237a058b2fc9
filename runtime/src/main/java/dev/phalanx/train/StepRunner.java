package dev.phalanx.train;

import dev.phalanx.data.Batch;
import dev.phalanx.parallel.Replica;
import dev.phalanx.tensor.Tensor;

/**
 * Where training steps run: in the calling thread for one replica, or through the actor
 * runtime for several. Both compute the same thing (the N-replica invariant).
 */
public interface StepRunner extends AutoCloseable {

    /** The loss and the logits of one training step. */
    record Result(float loss, Tensor outputs) { }

    Result step(Tensor inputs, Tensor labels);

    /** Batch {@code batch.index()} of epoch {@code epoch}: cluster mode sends other nodes the position, not the rows. */
    default Result step(int epoch, Batch batch) {
        return step(batch.inputs(), batch.labels());
    }

    /** Inference over a batch. */
    Tensor forward(Tensor inputs);

    /** Copies of the model and optimizer state. */
    Replica.Snapshot snapshot();

    void load(Replica.Snapshot state);

    /** "Using 3 replicas on cpu", for the start-up lines. */
    String describe();

    @Override
    void close();
}
