package dev.phalanx.ops;

import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Tensor;

/** Argument checks shared by the ops whose kernels exist in float32 only. */
final class Checks {

    private Checks() { }

    /** Every non-null tensor is float32, or a clear error naming the op and what to do. */
    static void float32(String op, Tensor... tensors) {
        for (Tensor t : tensors) {
            if (t != null && t.dtype() != DType.FLOAT32) {
                throw new IllegalArgumentException(op + ": expected float32 tensors, got one of " + t.dtype().torchName() + " (this build runs "
                        + op + " in float32 only; convert with to(DType.FLOAT32))");
            }
        }
    }
}
