package dev.phalanx.nn;

/** A (height, width) hyper-parameter that prints as PyTorch prints it: {@code 2} or {@code (2, 2)}. */
public record Pair(int h, int w, boolean scalar) {

    public static Pair of(int v) {
        return new Pair(v, v, true);
    }

    public static Pair of(int h, int w) {
        return new Pair(h, w, false);
    }

    /** Always the tuple form, as Conv2d prints its kernel size and stride. */
    public String tuple() {
        return "(" + h + ", " + w + ")";
    }

    @Override
    public String toString() {
        return scalar ? Integer.toString(h) : tuple();
    }
}
