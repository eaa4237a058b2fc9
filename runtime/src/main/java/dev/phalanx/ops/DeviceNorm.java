package dev.phalanx.ops;

import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceStorage;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * Batch norm and dropout on a device (normalization.cu), each forward with its backward beside it.
 * Batch norm computes as {@link BatchNormOp} does, step for step (its double sums as one block's
 * tree per channel), and in training moves the running statistics in place on the device, as the
 * CPU moves them in its arrays. Dropout keeps element i where a counter-based uniform number of
 * (seed, offset + i) is at least p, the seed and the offset read from the op's {@link Generator}'s state
 * in device memory ({@link Generator#deviceState}: the seed drawn once per device, the offset advanced
 * on the device past each call's elements), so a captured step replayed draws a new mask each time and
 * the masks of an eager run and a replayed one are the same; the masks are the same for a generator on
 * every device and run, but not the CPU's, which draws one number per element.
 * float32 only (the CPU ops' Float32Edge converts other floating dtypes, on the device, first).
 */
final class DeviceNorm {

    private DeviceNorm() { }

    // ---- batch norm over channel 1 of [N, C, ...]

    static Tensor batchNorm(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias, boolean training, float momentum, float eps,
                            int n, int c, int inner) {
        for (Tensor t : new Tensor[] {runningMean, runningVar, weight, bias}) if (t != null) Tensor.checkSameDevice("batch_norm", x, t);
        DeviceLayers.float32("batch_norm", x, runningMean, runningVar, weight, bias);
        if (!training && (runningMean == null || runningVar == null)) {
            throw new IllegalArgumentException("batch_norm: evaluation mode needs the running mean and variance (track_running_stats), got none");
        }
        for (Tensor t : new Tensor[] {runningMean, runningVar}) {
            if (t != null && !t.isContiguous()) {
                throw new IllegalStateException("batch_norm on " + x.device() + " updates its running statistics in place and needs them contiguous");
            }
        }
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        Tensor mean = on.empty(c), invstd = on.empty(c), y = on.empty(x.shape());
        if (training) {
            boolean update = runningMean != null && runningVar != null;
            on.ops().batchNormStats(on.stream(), n, c, inner, eps, momentum, on.buf(x), on.buf(mean), on.buf(invstd),
                    update ? on.buf(runningMean) : null, update ? on.buf(runningVar) : null);
        } else {
            on.ops().batchNormEvalStats(on.stream(), c, eps, on.buf(runningMean), on.buf(runningVar), on.buf(mean), on.buf(invstd));
        }
        if (y.numel() > 0) on.ops().batchNormApply(on.stream(), n, c, inner, on.buf(x), on.buf(mean), on.buf(invstd), on.buf(weight), on.buf(bias), on.buf(y));
        return Tensor.result((DeviceStorage) y.storage(), x.shape(), new BatchNormBackward(x, weight, bias, mean, invstd, training, n, c, inner));
    }

    private static final class BatchNormBackward extends Node {
        private final Tensor mean, invstd;
        private final boolean training;
        private final int n, c, inner;

        BatchNormBackward(Tensor x, Tensor w, Tensor b, Tensor mean, Tensor invstd, boolean training, int n, int c, int inner) {
            super(x, w, b);
            this.mean = mean;
            this.invstd = invstd;
            this.training = training;
            this.n = n;
            this.c = c;
            this.inner = inner;
        }

        @Override
        public String name() {
            return "NativeBatchNormBackward0";
        }

        @Override
        protected boolean savesInput(int input) {
            return input < 2; // the bias's values are not needed
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            Tensor x = inputs()[0], w = inputs()[1];
            DeviceLayers.On on = DeviceLayers.On.deviceOf(grad);
            Tensor dx = on.empty(x.shape()), dw = on.empty(c), db = on.empty(c);
            Tensor sums = Tensor.result(on.storage(DType.FLOAT64, 2 * c), new int[] {2 * c}, null);
            if (dx.numel() > 0) {
                on.ops().batchNormBackward(on.stream(), n, c, inner, training, on.buf(grad), on.buf(x), on.buf(mean), on.buf(invstd), on.buf(w),
                        on.buf(sums), on.buf(dx), on.buf(dw), on.buf(db));
            }
            return new Tensor[] {dx, needsGrad(1) ? dw : null, needsGrad(2) ? db : null};
        }
    }

    // ---- dropout

    static Tensor dropout(Tensor x, float p, Generator gen) {
        DeviceLayers.float32("dropout", x);
        DeviceLayers.On on = DeviceLayers.On.deviceOf(x);
        if (!gen.hasDeviceState(x.device()) && on.context().api().isCapturing(on.stream())) {
            // making the state copies its seed up from the host, which a capture cannot hold
            throw new IllegalStateException("dropout on " + x.device() + " draws from a generator with no state on the device yet, and making "
                    + "it copies from the host, which a capture cannot do; run the step once eagerly before capturing it");
        }
        float scale = p == 1f ? 0f : 1f / (1f - p);
        Tensor rng = gen.deviceState(x.device()); // {seed, offset} on the device: the mask is a function of (seed, offset + element)
        Tensor y = on.empty(x.shape());
        Tensor keep = Tensor.result(on.storage(DType.BOOL, x.numel()), x.shape(), null);
        if (x.numel() > 0) on.ops().dropoutForward(on.stream(), x.numel(), p, scale, on.buf(rng), on.buf(x), on.buf(y), on.buf(keep));
        return Tensor.result((DeviceStorage) y.storage(), x.shape(), new DropoutBackward(x, keep, scale));
    }

    private static final class DropoutBackward extends Node.ReadsNoInputs {
        private final Tensor keep;
        private final float scale;

        DropoutBackward(Tensor x, Tensor keep, float scale) {
            super(x);
            this.keep = keep;
            this.scale = scale;
        }

        @Override
        public String name() {
            return "NativeDropoutBackward0";
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            DeviceLayers.On on = DeviceLayers.On.deviceOf(grad);
            Tensor dx = on.empty(grad.shape());
            if (dx.numel() > 0) on.ops().dropoutBackward(on.stream(), dx.numel(), scale, on.buf(grad), on.buf(keep), on.buf(dx));
            return new Tensor[] {dx};
        }
    }
}
