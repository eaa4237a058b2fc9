package dev.phalanx.ops;

/** How a loss reduces over the batch, as PyTorch's {@code reduction=} argument. */
public enum Reduction {
    MEAN, SUM, NONE
}
