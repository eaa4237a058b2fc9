package dev.phalanx.ops;

import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Tensor;

/**
 * The edge of an op whose kernels exist in float32 only (convolution, pooling, linear, softmax,
 * the losses, batch norm, dropout). float32 passes straight through. The other floating dtypes
 * (float64, float16, bfloat16) are converted to float32 here and the result back to their dtype:
 * DESIGN.md's "float32 compute where no kernel exists". The conversions are autograd ops
 * ({@code ToCopyBackward0}), so each input's gradient arrives in its own dtype, and a float64
 * result carries float32's precision. Integer and bool inputs are refused, as PyTorch refuses
 * them, and so is a mix of floating dtypes, as PyTorch's layers refuse it.
 */
final class Float32Edge {

    private Float32Edge() { }

    /**
     * The floating dtype that every non-null tensor shares (float32 when there are none), or a
     * clear error naming the op, the offending dtype and the conversion to make.
     */
    static DType dtype(String op, Tensor... tensors) {
        DType common = null;
        for (Tensor t : tensors) {
            if (t == null) continue;
            DType d = t.dtype();
            if (!d.isFloatingPoint()) {
                throw new IllegalArgumentException(op + ": not implemented for " + d.torchName() + " (PyTorch: \"" + op
                        + "\" not implemented for '" + d.scalarTypeName() + "'); it needs floating-point tensors: convert with "
                        + "to(DType.FLOAT32)");
            }
            if (common == null) {
                common = d;
            } else if (d != common) {
                throw new IllegalArgumentException(op + ": expected all tensors to have the same dtype, but got " + common.torchName()
                        + " and " + d.torchName() + "; convert one of them with to(DType." + common.name() + ")");
            }
        }
        return common == null ? DType.FLOAT32 : common;
    }

    /** {@code t} in float32 (itself when it already is), or null for an absent optional tensor. */
    static Tensor in(Tensor t) {
        return t == null ? null : t.to(DType.FLOAT32);
    }

    /** The float32 result of the op, back in the inputs' dtype. */
    static Tensor out(Tensor t, DType dtype) {
        return t.to(dtype);
    }
}
