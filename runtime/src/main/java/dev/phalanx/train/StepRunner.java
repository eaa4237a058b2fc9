package dev.phalanx.train;

import dev.phalanx.data.Batch;
import dev.phalanx.parallel.Replica;
import dev.phalanx.tensor.Tensor;

/**
 * Where training steps run: in the calling thread for one replica, or through the actor
 * runtime for several. Both compute the same thing (the N-replica invariant).
 */
public interface StepRunner extends AutoCloseable {

    /**
     * The loss and the logits of one training step. On a device they may still be in device
     * memory when {@code step} returns (issue #9: a step is enqueued without waiting for the
     * device): {@link #loss()} and {@link #outputs()} read them then, and the first read takes the
     * losses of every unread step of the runner in one copy.
     */
    final class Result {
        /** Values a device has not handed back yet; read at most once. */
        public interface Pending {
            float loss();

            /** Whether the loss has come back to the host (with another step's read). */
            boolean isRead();

            /** The logits as a host tensor, or null where the runner keeps none (a replayed CUDA graph's are overwritten). */
            Tensor outputs();
        }

        private Pending pending;
        private float loss;
        private Tensor outputs;

        public Result(float loss, Tensor outputs) {
            this.loss = loss;
            this.outputs = outputs;
        }

        public Result(Pending pending) {
            this.pending = java.util.Objects.requireNonNull(pending, "pending");
        }

        /** The step's loss; waits for the device when it is not read yet. */
        public float loss() {
            settle();
            return loss;
        }

        /** The step's logits on the host (null when the runner keeps none); waits for the device when not read yet. */
        public Tensor outputs() {
            settle();
            return outputs;
        }

        /** Whether the loss is on the host already: read, or brought back with another step's. */
        public boolean isRead() {
            return pending == null || pending.isRead();
        }

        private void settle() {
            if (pending == null) return;
            loss = pending.loss();
            outputs = pending.outputs();
            pending = null;
        }
    }

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
