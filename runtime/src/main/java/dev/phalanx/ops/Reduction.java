package dev.phalanx.ops;

/** How a loss reduces over the batch, as PyTorch's {@code reduction=} argument. */
public enum Reduction {
    MEAN, SUM, NONE;

    public static Reduction parse(String s) {
        for (Reduction r : values()) if (r.name().equalsIgnoreCase(s)) return r;
        throw new IllegalArgumentException(s + " is not a valid value for reduction (expected mean, sum or none)");
    }
}
