package dev.phalanx.data;

import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Tensor;

/** Rows of an input tensor paired with an int64 label tensor, like {@code TensorDataset}. */
public final class TensorDataset implements Dataset {

    private final Tensor inputs, labels;

    public TensorDataset(Tensor inputs, Tensor labels) {
        if (labels.dtype() != DType.INT64) throw new IllegalArgumentException("TensorDataset: labels must be int64, got " + labels.dtype().torchName());
        if (inputs.size(0) != labels.size(0)) {
            throw new IllegalArgumentException("TensorDataset: Size mismatch between tensors: " + inputs.size(0) + " inputs and " + labels.size(0) + " labels");
        }
        this.inputs = inputs;
        this.labels = labels;
    }

    @Override
    public int size() {
        return inputs.size(0);
    }

    @Override
    public Example get(int index) {
        return new Example(inputs.select(0, index), labels.getLong(index));
    }
}
