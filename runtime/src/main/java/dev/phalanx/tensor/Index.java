package dev.phalanx.tensor;

/**
 * One entry of {@link Tensor#index(Index...)}, Python's indexing written in Java:
 * {@code x.index(all(), at(1))} is {@code x[:, 1]}, {@code x.index(range(1, 3))} is {@code x[1:3]}.
 * Every form gives a view. Import statically: {@code import static dev.phalanx.tensor.Index.*;}.
 */
public sealed interface Index {

    /** {@code :}, the whole dimension. */
    static Index all() {
        return All.INSTANCE;
    }

    /** An integer index: the dimension is removed, as {@code x[:, 1]} removes it. Negative counts from the end. */
    static Index at(int i) {
        return new At(i);
    }

    /** {@code start:end} (end exclusive; negative counts from the end; clamped as Python's slices). */
    static Index range(int start, int end) {
        return new Range(start, end, 1);
    }

    /** {@code start:end:step}. */
    static Index range(int start, int end, int step) {
        return new Range(start, end, step);
    }

    /** {@code None}: a new dimension of size 1. */
    static Index newAxis() {
        return NewAxis.INSTANCE;
    }

    enum All implements Index { INSTANCE }

    enum NewAxis implements Index { INSTANCE }

    record At(int index) implements Index { }

    record Range(int start, int end, int step) implements Index { }
}
