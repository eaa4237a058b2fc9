package dev.phalanx.tensor;

import java.util.Arrays;

/** A tensor's shape as PyTorch's {@code torch.Size}: prints {@code torch.Size([5, 3])}, compares by value. */
public final class Size {

    private final int[] dims;

    public Size(int... dims) {
        this.dims = dims.clone();
    }

    public int get(int i) {
        return dims[Shapes.wrapDim("Size.get", i, dims.length)];
    }

    /** Number of dimensions, {@code len(size)}. */
    public int length() {
        return dims.length;
    }

    /** The product of the sizes, {@code size.numel()}. */
    public int numel() {
        return Shapes.numel(dims);
    }

    public int[] toArray() {
        return dims.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Size s && Arrays.equals(dims, s.dims);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(dims);
    }

    @Override
    public String toString() {
        return "torch.Size(" + Shapes.str(dims) + ")";
    }
}
