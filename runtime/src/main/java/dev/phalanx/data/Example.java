package dev.phalanx.data;

import dev.phalanx.tensor.Tensor;

/** One input and its class label. */
public record Example(Tensor input, long label) { }
