package dev.phalanx.ops;

import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Strided;
import dev.phalanx.tensor.Tensor;

/**
 * Elementwise comparisons with broadcasting: bool results, compared in the operands' promoted
 * type (integers as integers, so large int64 values compare exactly). Not differentiable. On a
 * device: {@link DeviceCompare}, which also takes a 0-dim cpu operand beside a device tensor.
 */
public final class Compare {

    private Compare() { }

    public enum Fn {
        EQ("eq"), NE("ne"), LT("lt"), LE("le"), GT("gt"), GE("ge");

        final String op;

        Fn(String op) {
            this.op = op;
        }

        boolean test(int cmp) {
            return switch (this) {
                case EQ -> cmp == 0;
                case NE -> cmp != 0;
                case LT -> cmp < 0;
                case LE -> cmp <= 0;
                case GT -> cmp > 0;
                case GE -> cmp >= 0;
            };
        }
    }

    public static Tensor apply(Fn fn, Tensor a, Tensor b) {
        if (!a.device().isCpu() || !b.device().isCpu()) return DeviceCompare.apply(fn, a, b);
        int[] shape = Shapes.broadcast(fn.op, a.shape(), b.shape());
        int n = Shapes.numel(shape);
        int[] ia = Strided.indices(shape, Shapes.broadcastStrides(a.shape(), shape), 0);
        int[] ib = Strided.indices(shape, Shapes.broadcastStrides(b.shape(), shape), 0);
        byte[] out = new byte[n];
        if (DType.resultType(a, b).isFloatingPoint()) {
            double[] x = a.contiguousDoubles(), y = b.contiguousDoubles();
            for (int i = 0; i < n; i++) {
                double u = x[ia[i]], v = y[ib[i]];
                // NaN is unequal to everything, and neither below nor above anything
                boolean r = Double.isNaN(u) || Double.isNaN(v) ? fn == Fn.NE : fn.test(Double.compare(u, v) == 0 || u == v ? 0 : u < v ? -1 : 1);
                out[i] = (byte) (r ? 1 : 0);
            }
        } else {
            long[] x = a.contiguousLongs(), y = b.contiguousLongs();
            for (int i = 0; i < n; i++) out[i] = (byte) (fn.test(Long.compare(x[ia[i]], y[ib[i]])) ? 1 : 0);
        }
        return Tensor.of(DType.BOOL, out, shape);
    }
}
