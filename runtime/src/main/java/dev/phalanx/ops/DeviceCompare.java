package dev.phalanx.ops;

import dev.phalanx.kernels.device.DeviceOps;
import dev.phalanx.kernels.device.ElementType;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/**
 * eq, ne, lt, le, gt, ge on a device: bool tensors, with broadcasting ({@code compare_broadcast}),
 * compared as the CPU's {@link Compare} does: as doubles when the promoted type is floating (NaN
 * unequal to everything), else as longs. Operands of any dtype but float16 and bfloat16, each read
 * in its own type by the kernel (no conversion copies). A 0-dim cpu operand (a Java scalar, as in
 * {@code x.eq(2.0)}, or PyTorch's cpu scalar tensor beside a cuda one) is passed to
 * {@code compare_scalar} by value: no copy, no wait. Not differentiable, as in PyTorch.
 */
final class DeviceCompare {

    private DeviceCompare() { }

    static Tensor apply(Compare.Fn fn, Tensor a, Tensor b) {
        boolean asDouble = DType.resultType(a, b).isFloatingPoint();
        if (a.device().isCpu() && a.dim() == 0) return scalar(mirror(fn), b, a, asDouble);
        if (b.device().isCpu() && b.dim() == 0) return scalar(fn, a, b, asDouble);
        Tensor.checkSameDevice(fn.op, a, b);
        int[] shape = Shapes.broadcast(fn.op, a.shape(), b.shape());
        DeviceLayers.On on = DeviceLayers.On.deviceOf(a);
        ElementType ta = DeviceTensors.elementType(a.dtype(), fn.op, a.device()), tb = DeviceTensors.elementType(b.dtype(), fn.op, b.device());
        Tensor out = Tensor.result(on.storage(DType.BOOL, Shapes.numel(shape)), shape, null);
        long n = out.numel();
        if (n == 0) return out;
        int nd = shape.length;
        int[] meta = new int[3 * nd];
        System.arraycopy(shape, 0, meta, 0, nd);
        System.arraycopy(Shapes.broadcastStrides(a.shape(), shape), 0, meta, nd, nd);
        System.arraycopy(Shapes.broadcastStrides(b.shape(), shape), 0, meta, 2 * nd, nd);
        on.ops().compare(on.stream(), code(fn), asDouble, nd, n, on.buf(a), ta, on.buf(b), tb, on.buf(out), meta);
        return out;
    }

    /** x op s for a device tensor x and a 0-dim cpu tensor s. */
    private static Tensor scalar(Compare.Fn fn, Tensor x, Tensor s, boolean asDouble) {
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        ElementType tx = DeviceTensors.elementType(x.dtype(), fn.op, x.device());
        Tensor out = Tensor.result(on.storage(DType.BOOL, x.numel()), x.shape(), null);
        if (out.numel() == 0) return out;
        double c = s.contiguousDoubles()[0];
        long cLong = asDouble ? 0 : s.contiguousLongs()[0];
        on.ops().compareScalar(on.stream(), code(fn), asDouble, out.numel(), on.buf(x), tx, c, cLong, on.buf(out));
        return out;
    }

    /** The comparison with its operands swapped: s < x is x > s. */
    private static Compare.Fn mirror(Compare.Fn fn) {
        return switch (fn) {
            case EQ, NE -> fn;
            case LT -> Compare.Fn.GT;
            case LE -> Compare.Fn.GE;
            case GT -> Compare.Fn.LT;
            case GE -> Compare.Fn.LE;
        };
    }

    private static int code(Compare.Fn fn) {
        return switch (fn) {
            case EQ -> DeviceOps.CMP_EQ;
            case NE -> DeviceOps.CMP_NE;
            case LT -> DeviceOps.CMP_LT;
            case LE -> DeviceOps.CMP_LE;
            case GT -> DeviceOps.CMP_GT;
            case GE -> DeviceOps.CMP_GE;
        };
    }
}
