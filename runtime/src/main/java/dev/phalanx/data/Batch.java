package dev.phalanx.data;

import dev.phalanx.tensor.Tensor;

/** A mini-batch: inputs stacked along a new dimension 0, int64 labels, and its index in the epoch. */
public record Batch(Tensor inputs, Tensor labels, int index) {
    public int size() {
        return inputs.size(0);
    }
}
