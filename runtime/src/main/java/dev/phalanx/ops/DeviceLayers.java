package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.cpu.ConvGeometry;
import dev.phalanx.kernels.cpu.PoolGeometry;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.DeviceOps;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceStorage;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/**
 * The layer ops on tensors in device memory ({@code cuda:N}, {@code sim:N}), each forward with its
 * backward beside it, through the device's {@link DeviceOps} (cuBLAS, cuDNN and Phalanx's kernels
 * on a GPU; the CPU kernels and their Java twins on the simulated device). The CPU ops call these
 * at their top when their input is on a device, after the checks they share; everything is
 * enqueued on the device context's stream and nothing waits for the device. float32 only (the
 * CPU ops' {@link Float32Edge} converts other dtypes before dispatching).
 */
public final class DeviceLayers {

    private DeviceLayers() { }

    /** The context, its stream and ops, for one op's enqueues (DeviceMath's too). */
    record On(DeviceContext context, Stream stream, DeviceOps ops) {
        static On deviceOf(Tensor t) {
            DeviceContext c = DeviceTensors.context(t);
            return new On(c, c.stream(), c.ops());
        }

        DeviceBuffer buf(Tensor t) {
            return t == null ? null : DeviceTensors.buffer(t, stream);
        }

        Tensor empty(int... shape) {
            return DeviceTensors.empty(context, DType.FLOAT32, shape);
        }

        Tensor empty(DType dtype, int... shape) {
            return DeviceTensors.empty(context, dtype, shape);
        }

        DeviceStorage storage(DType dtype, int n) {
            return DeviceTensors.allocate(context, dtype, n);
        }
    }

    static void float32(String op, Tensor... ts) {
        for (Tensor t : ts) {
            if (t != null && t.dtype() != DType.FLOAT32) {
                throw new IllegalArgumentException(op + " on " + t.device() + " takes float32 tensors, got " + t.dtype().torchName());
            }
        }
    }

    // ---- conv2d: forward (cuDNN's algorithm cached per shape), backward-data and backward-filter, bias

    static Tensor conv2d(Tensor x, Tensor w, Tensor b, ConvGeometry g) {
        if (b != null) Tensor.checkSameDevice("conv2d", x, b);
        float32("conv2d", x, w, b);
        On on = On.deviceOf(x);
        Tensor y = on.empty(g.n(), g.cout(), g.oh(), g.ow());
        on.ops.convForward(on.stream, g, on.buf(x), on.buf(w), on.buf(b), on.buf(y));
        return Tensor.result((DeviceStorage) y.storage(), y.shape(), new ConvBackward(x, w, b, g));
    }

    private static final class ConvBackward extends Node {
        private final ConvGeometry g;

        ConvBackward(Tensor x, Tensor w, Tensor b, ConvGeometry g) {
            super(x, w, b);
            this.g = g;
        }

        @Override
        public String name() {
            return "ConvolutionBackward0";
        }

        @Override
        protected boolean savesInput(int input) {
            return input < 2;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            Tensor x = inputs()[0], w = inputs()[1];
            On on = On.deviceOf(grad);
            Tensor gx = needsGrad(0) ? on.empty(x.shape()) : null;
            Tensor gw = on.empty(w.shape()); // the filter gradient is always computed with the others
            Tensor gb = needsGrad(2) ? on.empty(g.cout()) : null;
            on.ops.convBackward(on.stream, g, on.buf(x), on.buf(w), on.buf(grad), on.buf(gx), on.buf(gw), on.buf(gb));
            return new Tensor[] {gx, needsGrad(1) ? gw : null, gb};
        }
    }

    // ---- linear: y = x W^T + b (one GEMM and a bias kernel)

    static Tensor linear(Tensor x, Tensor w, Tensor b) {
        if (b != null) Tensor.checkSameDevice("linear", x, b);
        float32("linear", x, w, b);
        On on = On.deviceOf(x);
        int n = x.size(0), in = x.size(1), out = w.size(0);
        Tensor y = on.empty(n, out);
        on.ops.linearForward(on.stream, n, in, out, on.buf(x), on.buf(w), on.buf(b), on.buf(y));
        return Tensor.result((DeviceStorage) y.storage(), y.shape(), new AddmmBackward(x, w, b));
    }

    private static final class AddmmBackward extends Node {
        AddmmBackward(Tensor x, Tensor w, Tensor b) {
            super(x, w, b);
        }

        @Override
        public String name() {
            return inputs()[2] != null ? "AddmmBackward0" : "MmBackward0";
        }

        @Override
        protected int[] edgeOrder() {
            return inputs()[2] != null ? new int[] {2, 0, 1} : new int[] {0, 1, 2};
        }

        @Override
        protected boolean savesInput(int input) {
            return input < 2;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            Tensor x = inputs()[0], w = inputs()[1];
            On on = On.deviceOf(grad);
            int n = x.size(0), in = x.size(1), out = w.size(0);
            Tensor gx = needsGrad(0) ? on.empty(n, in) : null;
            Tensor gw = on.empty(out, in);
            Tensor gb = needsGrad(2) ? on.empty(out) : null;
            on.ops.linearBackward(on.stream, n, in, out, on.buf(x), on.buf(w), on.buf(grad), on.buf(gx), on.buf(gw), on.buf(gb));
            return new Tensor[] {gx, needsGrad(1) ? gw : null, gb};
        }
    }

    // ---- relu

    static Tensor relu(Tensor x) {
        float32("relu", x);
        On on = On.deviceOf(x);
        Tensor y = on.empty(x.shape());
        on.ops.reluForward(on.stream, x.numel(), on.buf(x), on.buf(y));
        ReluBackward node = new ReluBackward(x);
        Tensor out = Tensor.result((DeviceStorage) y.storage(), y.shape(), node);
        node.output = out.detach();
        return out;
    }

    private static final class ReluBackward extends Node.ReadsNoInputs {
        Tensor output;

        ReluBackward(Tensor x) {
            super(x);
        }

        @Override
        public String name() {
            return "ReluBackward0";
        }

        @Override
        protected boolean savesOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            On on = On.deviceOf(grad);
            Tensor dx = on.empty(output.shape());
            on.ops.reluBackward(on.stream, output.numel(), on.buf(output), on.buf(grad), on.buf(dx));
            return new Tensor[] {dx};
        }
    }

    // ---- max_pool2d (indices int32 on the device, as the kernels keep them)

    static PoolOps.MaxPoolResult maxPool2d(Tensor x, PoolGeometry g, int[] outShape) {
        float32("max_pool2d", x);
        On on = On.deviceOf(x);
        Tensor y = on.empty(outShape);
        Tensor idx = Tensor.result(on.storage(DType.INT32, Shapes.numel(outShape)), outShape, null);
        on.ops.maxPoolForward(on.stream, g, on.buf(x), on.buf(y), on.buf(idx));
        Tensor out = Tensor.result((DeviceStorage) y.storage(), outShape, new MaxPoolBackward(x, g, idx));
        return new PoolOps.MaxPoolResult(out, () -> idx);
    }

    private static final class MaxPoolBackward extends Node {
        private final PoolGeometry g;
        private final Tensor indices;

        MaxPoolBackward(Tensor x, PoolGeometry g, Tensor indices) {
            super(x);
            this.g = g;
            this.indices = indices;
        }

        @Override
        public String name() {
            return "MaxPool2DWithIndicesBackward0";
        }

        @Override
        protected boolean savesInput(int input) {
            return false; // the indices are its own
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            On on = On.deviceOf(grad);
            Tensor dx = on.empty(inputs()[0].shape());
            on.ops.maxPoolBackward(on.stream, g, on.buf(grad), on.buf(indices), on.buf(dx));
            return new Tensor[] {dx};
        }
    }

    // ---- cross entropy of logits [n, c] and int64 targets [n]: log-softmax and NLL fused, mean or sum

    static Tensor crossEntropy(Tensor logits, Tensor target, Reduction reduction) {
        Tensor.checkSameDevice("cross_entropy", logits, target);
        float32("cross_entropy", logits);
        if (logits.dim() != 2 || target.dim() != 1 || target.size(0) != logits.size(0)) {
            throw new IllegalArgumentException("cross_entropy on " + logits.device() + ": expected logits [n, c] and targets [n], got "
                    + Shapes.str(logits.shape()) + " and " + Shapes.str(target.shape()));
        }
        if (target.dtype() != DType.INT64) {
            throw new IllegalArgumentException("cross_entropy: expected scalar type Long for the targets but found " + target.dtype().scalarTypeName());
        }
        if (reduction == Reduction.NONE) {
            throw new IllegalStateException("cross_entropy on " + logits.device() + " is built for reduction mean and sum; use one, or the cpu");
        }
        On on = On.deviceOf(logits);
        int n = logits.size(0), c = logits.size(1);
        float weight = reduction == Reduction.SUM ? n : 1f; // the kernels compute weight * mean
        Tensor logprobs = on.empty(n, c), rows = on.empty(n), loss = on.empty();
        on.ops.crossEntropyForward(on.stream, n, c, on.buf(logits), on.buf(target), on.buf(logprobs), on.buf(rows), on.buf(loss), weight);
        return Tensor.result((DeviceStorage) loss.storage(), new int[0], new CrossEntropyBackward(logits, target, logprobs, weight));
    }

    private static final class CrossEntropyBackward extends Node {
        private final Tensor target, logprobs;
        private final float weight;

        CrossEntropyBackward(Tensor logits, Tensor target, Tensor logprobs, float weight) {
            super(logits);
            this.target = target;
            this.logprobs = logprobs;
            this.weight = weight;
        }

        @Override
        public String name() {
            return "NllLossBackward0";
        }

        @Override
        protected boolean savesInput(int input) {
            return false; // it keeps its own log-probabilities
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            On on = On.deviceOf(grad);
            int n = logprobs.size(0), c = logprobs.size(1);
            Tensor d = on.empty(n, c);
            on.ops.crossEntropyBackward(on.stream, n, c, on.buf(logprobs), on.buf(target), on.buf(d), weight);
            on.ops.scaleBy(on.stream, (long) n * c, on.buf(d), on.buf(grad)); // times the upstream gradient, read on the device
            return new Tensor[] {d};
        }
    }

    // ---- matmul: out = a b (one GEMM); da = g b^T, db = a^T g

    static Tensor matmul(Tensor a, Tensor b) {
        float32("matmul", a, b);
        On on = On.deviceOf(a);
        int m = a.size(0), k = a.size(1), n = b.size(1);
        Tensor out = on.empty(m, n);
        on.ops.matmul(on.stream, m, k, n, on.buf(a), on.buf(b), on.buf(out));
        return Tensor.result((DeviceStorage) out.storage(), out.shape(), new MmBackward(a, b));
    }

    private static final class MmBackward extends Node {
        MmBackward(Tensor a, Tensor b) {
            super(a, b);
        }

        @Override
        public String name() {
            return "MmBackward0";
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            Tensor a = inputs()[0], b = inputs()[1];
            On on = On.deviceOf(grad);
            int m = a.size(0), k = a.size(1), n = b.size(1);
            Tensor da = needsGrad(0) ? on.empty(m, k) : null, db = needsGrad(1) ? on.empty(k, n) : null;
            on.ops.matmulBackward(on.stream, m, k, n, on.buf(a), on.buf(b), on.buf(grad), on.buf(da), on.buf(db));
            return new Tensor[] {da, db};
        }
    }

    // ---- softmax and log_softmax along one dimension (one block per line)

    static Tensor softmax(Tensor x, Reduce.Axis ax, boolean log) {
        float32(log ? "log_softmax" : "softmax", x);
        On on = On.deviceOf(x);
        Tensor y = on.empty(x.shape());
        if (x.numel() > 0) on.ops.softmaxForward(on.stream, ax.outer(), ax.size(), ax.inner(), log, on.buf(x), on.buf(y));
        SoftmaxBackward node = new SoftmaxBackward(x, ax, log);
        Tensor out = Tensor.result((DeviceStorage) y.storage(), y.shape(), node);
        node.output = out.detach();
        return out;
    }

    private static final class SoftmaxBackward extends Node.ReadsNoInputs {
        private final Reduce.Axis ax;
        private final boolean log;
        Tensor output;

        SoftmaxBackward(Tensor x, Reduce.Axis ax, boolean log) {
            super(x);
            this.ax = ax;
            this.log = log;
        }

        @Override
        public String name() {
            return log ? "LogSoftmaxBackward0" : "SoftmaxBackward0";
        }

        @Override
        protected boolean savesOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            On on = On.deviceOf(grad);
            Tensor dx = on.empty(output.shape());
            if (dx.numel() > 0) on.ops.softmaxBackward(on.stream, ax.outer(), ax.size(), ax.inner(), log, on.buf(output), on.buf(grad), on.buf(dx));
            return new Tensor[] {dx};
        }
    }

    // ---- mse_loss: the squared differences, summed on the device for mean and sum

    static Tensor mseLoss(Tensor input, Tensor target, Reduction reduction) {
        float32("mse_loss", input, target);
        On on = On.deviceOf(input);
        long n = input.numel();
        Tensor terms = on.empty(input.shape());
        on.ops.squaredDifference(on.stream, n, on.buf(input), on.buf(target), on.buf(terms));
        MseBackward node = new MseBackward(input, target, reduction);
        if (reduction == Reduction.NONE) return Tensor.result((DeviceStorage) terms.storage(), input.shape(), node);
        Tensor loss = on.empty();
        on.ops.sumAll(on.stream, n, on.buf(terms), on.buf(loss), reduction == Reduction.MEAN ? 1f / n : 1f);
        return Tensor.result((DeviceStorage) loss.storage(), new int[0], node);
    }

    private static final class MseBackward extends Node {
        private final Reduction reduction;

        MseBackward(Tensor input, Tensor target, Reduction reduction) {
            super(input, target);
            this.reduction = reduction;
        }

        @Override
        public String name() {
            return "MseLossBackward0";
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            Tensor a = inputs()[0], b = inputs()[1];
            On on = On.deviceOf(grad);
            long n = a.numel();
            Tensor da = on.empty(a.shape()), db = needsGrad(1) ? on.empty(b.shape()) : null;
            float scale = reduction == Reduction.MEAN ? 2f / n : 2f;
            on.ops.mseBackward(on.stream, n, on.buf(a), on.buf(b), on.buf(grad), on.buf(da), on.buf(db), scale, reduction == Reduction.NONE);
            return new Tensor[] {needsGrad(0) ? da : null, db};
        }
    }

    // ---- avg_pool2d (count_include_pad) and adaptive_avg_pool2d

    static Tensor avgPool2d(Tensor x, PoolGeometry g, int[] outShape) {
        float32("avg_pool2d", x);
        On on = On.deviceOf(x);
        Tensor y = on.empty(outShape);
        if (y.numel() > 0) on.ops.avgPoolForward(on.stream, g, on.buf(x), on.buf(y));
        return Tensor.result((DeviceStorage) y.storage(), outShape, new AvgPoolBackward(x, g, 0, 0));
    }

    static Tensor adaptiveAvgPool2d(Tensor x, int planes, int h, int w, int oh, int ow, int[] outShape) {
        float32("adaptive_avg_pool2d", x);
        On on = On.deviceOf(x);
        Tensor y = on.empty(outShape);
        if (y.numel() > 0) on.ops.adaptiveAvgPoolForward(on.stream, planes, h, w, oh, ow, on.buf(x), on.buf(y));
        return Tensor.result((DeviceStorage) y.storage(), outShape, new AvgPoolBackward(x, new PoolGeometry(planes, h, w, 1, 1, 1, 1, 0, 0), oh, ow));
    }

    /** Either pooling's gradient: a fixed window ({@code oh == 0}) or adaptive to oh x ow (the geometry then gives only planes, h, w). */
    private static final class AvgPoolBackward extends Node {
        private final PoolGeometry g;
        private final int oh, ow;

        AvgPoolBackward(Tensor x, PoolGeometry g, int oh, int ow) {
            super(x);
            this.g = g;
            this.oh = oh;
            this.ow = ow;
        }

        @Override
        public String name() {
            return oh == 0 ? "AvgPool2DBackward0" : "AdaptiveAvgPool2DBackward0";
        }

        @Override
        protected boolean savesInput(int input) {
            return false; // only its shape
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            On on = On.deviceOf(grad);
            Tensor dx = on.empty(inputs()[0].shape());
            if (dx.numel() == 0) return new Tensor[] {dx};
            if (oh == 0) on.ops.avgPoolBackward(on.stream, g, on.buf(grad), on.buf(dx));
            else on.ops.adaptiveAvgPoolBackward(on.stream, g.planes(), g.h(), g.w(), oh, ow, on.buf(grad), on.buf(dx));
            return new Tensor[] {dx};
        }
    }

    // ---- nll_loss of log-probabilities [n, c] and int64 targets [n] (a target out of range gives NaN: checking it would wait)

    static Tensor nllLoss(Tensor logProbs, Tensor target, Reduction reduction) {
        Tensor.checkSameDevice("nll_loss", logProbs, target);
        float32("nll_loss", logProbs);
        On on = On.deviceOf(logProbs);
        int n = logProbs.size(0), c = logProbs.size(1);
        Tensor rows = on.empty(n);
        Tensor loss = reduction == Reduction.NONE ? null : on.empty();
        on.ops.nllForward(on.stream, n, c, on.buf(logProbs), on.buf(target), on.buf(rows), on.buf(loss), reduction == Reduction.MEAN ? 1f / n : 1f);
        Tensor out = loss == null ? rows : loss;
        return Tensor.result((DeviceStorage) out.storage(), out.shape(), new NllBackward(logProbs, target, reduction));
    }

    private static final class NllBackward extends Node {
        private final Tensor target;
        private final Reduction reduction;

        NllBackward(Tensor logProbs, Tensor target, Reduction reduction) {
            super(logProbs);
            this.target = target;
            this.reduction = reduction;
        }

        @Override
        public String name() {
            return "NllLossBackward0";
        }

        @Override
        protected boolean savesInput(int input) {
            return false; // only the shape and the targets
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            On on = On.deviceOf(grad);
            int n = inputs()[0].size(0), c = inputs()[0].size(1);
            Tensor dx = on.empty(n, c);
            on.ops.nllBackward(on.stream, n, c, on.buf(target), on.buf(grad), on.buf(dx), reduction == Reduction.MEAN ? 1f / n : 1f,
                    reduction == Reduction.NONE);
            return new Tensor[] {dx};
        }
    }
}
