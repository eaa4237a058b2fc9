package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceStorage;
import dev.phalanx.tensor.Tensor;

/**
 * max and min on a device, with their int64 indices: along a dimension ({@code extreme_dim}, one
 * thread per output scanning in the CPU's order) and over the whole tensor ({@code extreme_all},
 * one block), the forward with its backward beside it ({@code pick_backward}: the gradient lands
 * on each picked element). The pick follows {@link Reduce}'s rule: NaN wins, then the larger
 * (smaller) value, then the first index; so the indices are the CPU's. float32 only; the values
 * and indices stay on the device (accuracy needs no read-back of the logits).
 */
final class DeviceExtremes {

    private DeviceExtremes() { }

    /** The whole tensor's max (min): values is 0-dim, indices the 0-dim flat index. */
    static Reduce.MaxResult all(Tensor x, boolean min) {
        String op = min ? "min" : "max";
        DeviceLayers.float32(op, x);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        Tensor value = on.empty();
        Tensor index = Tensor.result(on.storage(DType.INT64, 1), new int[0], null);
        on.ops().extremeAll(on.stream(), x.numel(), min, on.buf(x), on.buf(value), on.buf(index));
        Reduce.Axis whole = new Reduce.Axis(1, x.numel(), 1, new int[0], new int[0]);
        Tensor out = Tensor.result((DeviceStorage) value.storage(), new int[0], new PickBackward(x, whole, index, min ? "MinBackward1" : "MaxBackward1"));
        return new Reduce.MaxResult(out, index);
    }

    /** max (min) along one dimension, and where along it. */
    static Reduce.MaxResult alongDim(Tensor x, Reduce.Axis ax, boolean keepdim, boolean min) {
        String op = min ? "min" : "max";
        DeviceLayers.float32(op, x);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        int[] shape = keepdim ? ax.keptShape() : ax.reducedShape();
        Tensor values = on.empty(shape);
        Tensor indices = Tensor.result(on.storage(DType.INT64, values.numel()), shape, null);
        if (values.numel() > 0) {
            on.ops().extremeDim(on.stream(), ax.outer(), ax.size(), ax.inner(), min, on.buf(x), on.buf(values), on.buf(indices));
        }
        Tensor out = Tensor.result((DeviceStorage) values.storage(), shape, new PickBackward(x, ax, indices, min ? "MinBackward0" : "MaxBackward0"));
        return new Reduce.MaxResult(out, indices);
    }

    /** The gradient goes to the picked element of each line, 0 elsewhere (one thread per input element, no atomics). */
    private static final class PickBackward extends Node.ReadsNoInputs {
        private final Reduce.Axis ax;
        private final Tensor indices;
        private final String name;

        PickBackward(Tensor x, Reduce.Axis ax, Tensor indices, String name) {
            super(x);
            this.ax = ax;
            this.indices = indices;
            this.name = name;
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            DeviceLayers.On on = DeviceLayers.On.deviceOf(grad);
            Tensor dx = on.empty(inputs()[0].shape());
            if (dx.numel() > 0) on.ops().pickBackward(on.stream(), ax.outer(), ax.size(), ax.inner(), on.buf(grad), on.buf(indices), on.buf(dx));
            return new Tensor[] {dx};
        }
    }
}
