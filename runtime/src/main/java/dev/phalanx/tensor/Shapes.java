package dev.phalanx.tensor;

import java.util.Arrays;

/** Shape arithmetic: sizes, strides, broadcasting, dimension wrapping. */
public final class Shapes {

    private Shapes() { }

    public static int numel(int[] shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension " + d + " in shape " + Arrays.toString(shape));
            n *= d;
        }
        if (n > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " has too many elements for one tensor");
        return (int) n;
    }

    public static int[] strides(int[] shape) {
        int[] s = new int[shape.length];
        int acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    /** Wraps a possibly negative dimension, as PyTorch does; names the op when out of range. */
    public static int wrapDim(String op, int dim, int rank) {
        int r = Math.max(rank, 1);
        if (dim < -r || dim >= r) {
            throw new IndexOutOfBoundsException(op + ": Dimension out of range (expected to be in range of [" + (-r) + ", "
                    + (r - 1) + "], but got " + dim + ")");
        }
        return dim < 0 ? dim + r : dim;
    }

    /** The broadcast shape of a and b, or an error in PyTorch's words naming the op and both shapes. */
    public static int[] broadcast(String op, int[] a, int[] b) {
        int n = Math.max(a.length, b.length);
        int[] out = new int[n];
        for (int i = n - 1; i >= 0; i--) { // from the last dimension, as PyTorch reports the first mismatch
            int da = i < n - a.length ? 1 : a[i - (n - a.length)];
            int db = i < n - b.length ? 1 : b[i - (n - b.length)];
            if (da != db && da != 1 && db != 1) {
                throw new IllegalArgumentException(op + ": The size of tensor a (" + da + ") must match the size of tensor b (" + db
                        + ") at non-singleton dimension " + i + " (shapes " + str(a) + " and " + str(b) + ")");
            }
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    /** Strides to read a tensor of {@code shape} as if it had {@code target}'s shape (0 where broadcast). */
    public static int[] broadcastStrides(int[] shape, int[] target) {
        int[] own = strides(shape);
        int[] s = new int[target.length];
        int off = target.length - shape.length;
        for (int i = 0; i < target.length; i++) {
            if (i < off) continue;
            s[i] = shape[i - off] == 1 ? 0 : own[i - off];
        }
        return s;
    }

    /**
     * Strides to read a tensor of {@code shape} with {@code strides} as if it had {@code target}'s
     * shape: its own strides, 0 where it is broadcast (size 1, or a missing leading dimension).
     */
    public static int[] broadcastStridesOf(int[] shape, int[] strides, int[] target) {
        int[] s = new int[target.length];
        int off = target.length - shape.length;
        for (int i = off; i < target.length; i++) s[i] = shape[i - off] == 1 && target[i] != 1 ? 0 : strides[i - off];
        return s;
    }

    public static String str(int[] shape) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) b.append(", ");
            b.append(shape[i]);
        }
        return b.append(']').toString();
    }

    /** PyTorch's compact "4x256" form, used in matmul errors. */
    public static String x(int[] shape) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) b.append('x');
            b.append(shape[i]);
        }
        return b.toString();
    }

    /** Resolves one -1 in a view/reshape request against numel. */
    public static int[] inferView(String op, int[] requested, int numel) {
        int[] s = requested.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1) {
                if (infer >= 0) throw new IllegalArgumentException(op + ": only one dimension can be inferred");
                infer = i;
            } else if (s[i] < 0) {
                throw new IllegalArgumentException(op + ": invalid shape dimension " + s[i]);
            } else {
                known *= s[i];
            }
        }
        if (infer >= 0) {
            if (known == 0 || numel % known != 0) {
                throw new IllegalArgumentException(op + ": shape '" + str(requested) + "' is invalid for input of size " + numel);
            }
            s[infer] = (int) (numel / known);
        } else if (known != numel) {
            throw new IllegalArgumentException(op + ": shape '" + str(requested) + "' is invalid for input of size " + numel);
        }
        return s;
    }
}
