package dev.phalanx.ops;

import java.util.List;

import dev.phalanx.autograd.Node;
import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.cpu.ConvGeometry;
import dev.phalanx.kernels.cpu.SampleOrderedKernels;
import dev.phalanx.kernels.reduce.SampleTree;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.HostStorage;
import dev.phalanx.tensor.Tensor;

/**
 * The reproducible mode's versions of the ops whose arithmetic depends on how a batch is cut
 * (issue #13): linear and convolution (samples one at a time; weight and bias gradients along
 * {@link SampleTree}, recorded per parameter in the bound {@link Reproducible.Shard}) and the
 * mean losses (scaled per sample by 1/B of the global batch). Called by {@link LinearOp},
 * {@link Conv2dOp} and {@link LossOps} while a shard is bound; forward and backward side by side.
 */
final class SampleOrdered {

    private SampleOrdered() { }

    // ---- linear ----

    static Tensor linear(Reproducible.Shard shard, Tensor x, Tensor weight, Tensor bias) {
        int b = x.size(0), in = x.size(1), out = weight.size(0);
        shard.checkRows("linear", b);
        float[] y = new float[b * out], w = weight.contiguousFloats();
        SampleOrderedKernels.linearForward(Backends.cpu(), b, in, out, x.contiguousFloats(), w, weightVersion(weight, w),
                bias == null ? null : bias.contiguousFloats(), y, shard.offset(), shard.batch());
        return Tensor.result(y, new int[] {b, out}, new LinearBackward(x, weight, bias));
    }

    private static final class LinearBackward extends Node {
        LinearBackward(Tensor x, Tensor w, Tensor bias) {
            super(x, w, bias);
        }

        @Override
        public String name() {
            return inputs()[2] != null ? "AddmmBackward0" : "MmBackward0";
        }

        @Override
        protected boolean savesInput(int input) {
            return input < 2; // the bias's values are not needed
        }

        /** g is read during the call only (the tree's pieces are arrays of their own), so a pooled g goes back to the pool. */
        @Override
        protected boolean forgetsGradOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor g) {
            Reproducible.Shard shard = bound("linear");
            Tensor x = inputs()[0], w = inputs()[1], bias = inputs()[2];
            int b = x.size(0), in = x.size(1), out = w.size(0);
            float[] gd = g.contiguousFloats();
            Tensor gx = null;
            if (needsGrad(0)) {
                float[] d = Backends.cpu().buffers().floats(b * in), wd = w.contiguousFloats(); // every element written
                SampleOrderedKernels.linearBackwardData(Backends.cpu(), b, in, out, gd, wd, weightVersion(w, wd), d,
                        shard.offset(), shard.batch());
                gx = Tensor.pooledGradient(d, b, in);
            }
            List<SampleTree.Block> pieces = shard.blocks();
            Tensor gw = needsGrad(1) ? recorded(shard, w,
                    SampleOrderedKernels.linearWeight(Backends.cpu(), in, out, gd, x.contiguousFloats(), pieces, shard.offset())) : null;
            Tensor gb = needsGrad(2) ? recorded(shard, bias, SampleOrderedKernels.linearBias(Backends.cpu(), out, gd, pieces, shard.offset())) : null;
            return new Tensor[] {gx, gw, gb};
        }
    }

    // ---- convolution ----

    static Tensor conv2d(Reproducible.Shard shard, Tensor x, Tensor weight, Tensor bias, ConvGeometry g) {
        shard.checkRows("conv2d", g.n());
        float[] out = new float[g.n() * g.outImage()];
        SampleOrderedKernels.convForward(Backends.cpu(), g, x.contiguousFloats(), weight.contiguousFloats(),
                bias == null ? null : bias.contiguousFloats(), out, shard.offset(), shard.batch());
        return Tensor.result(out, new int[] {g.n(), g.cout(), g.oh(), g.ow()}, new ConvBackward(x, weight, bias, g));
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
            return input < 2; // the bias's values are not needed
        }

        /** As the linear layer's: grad is read during the call only, so a pooled one goes back to the pool. */
        @Override
        protected boolean forgetsGradOutput() {
            return true;
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            Reproducible.Shard shard = bound("conv2d");
            Tensor x = inputs()[0], w = inputs()[1], bias = inputs()[2];
            float[] gd = grad.contiguousFloats();
            Tensor gx = null;
            if (needsGrad(0)) {
                float[] dx = Backends.cpu().buffers().floats(x.numel()); // every element written
                SampleOrderedKernels.convBackwardData(Backends.cpu(), g, gd, w.contiguousFloats(), dx, shard.offset(), shard.batch());
                gx = Tensor.pooledGradient(dx, x.shape());
            }
            SampleOrderedKernels.ConvWeightSums sums = needsGrad(1) || needsGrad(2)
                    ? SampleOrderedKernels.convWeight(Backends.cpu(), g, x.contiguousFloats(), gd, needsGrad(1), needsGrad(2), shard.offset(), shard.batch())
                    : new SampleOrderedKernels.ConvWeightSums(null, null);
            return new Tensor[] {gx, recordedSums(shard, w, sums.weight()), recordedSums(shard, bias, sums.bias())};
        }
    }

    // ---- mean losses: per-sample 1/B of the global batch ----

    /** nll_loss with mean reduction: the shard's share of the global batch's mean; each sample's gradient is -1/B. */
    static Tensor nllLossMean(Reproducible.Shard shard, Tensor logProbsTensor, long[] target, int classes) {
        float[] logProbs = logProbsTensor.contiguousFloats();
        int n = target.length;
        shard.checkRows("nll_loss", n);
        SampleTree.Accumulator acc = shard.accumulator(1);
        float[] leaf = new float[1];
        for (int i = 0; i < n; i++) {
            leaf[0] = -logProbs[i * classes + (int) target[i]];
            acc.add(shard.offset() + i, leaf);
        }
        float value = lossValue(shard, acc.sums(), shard.batch());
        return Tensor.result(new float[] {value}, new int[0], new NllLossMeanBackward(logProbsTensor, target, classes, shard.batch()));
    }

    private static final class NllLossMeanBackward extends Node {
        private final long[] target;
        private final int classes, batch;

        NllLossMeanBackward(Tensor logProbs, long[] target, int classes, int batch) {
            super(logProbs);
            this.target = target;
            this.classes = classes;
            this.batch = batch;
        }

        @Override
        public String name() {
            return "NllLossBackward0";
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            float gi = grad.contiguousFloats()[0] / batch;
            int n = target.length;
            float[] dx = new float[n * classes];
            for (int i = 0; i < n; i++) dx[i * classes + (int) target[i]] = -gi;
            return new Tensor[] {Tensor.of(dx, n, classes)};
        }
    }

    /** mse_loss with mean reduction: the shard's share of the mean over the global batch's elements. */
    static Tensor mseLossMean(Reproducible.Shard shard, Tensor input, Tensor target) {
        int n = input.size(0), per = input.numel() / Math.max(n, 1);
        shard.checkRows("mse_loss", n);
        float[] a = input.contiguousFloats(), b = target.contiguousFloats();
        SampleTree.Accumulator acc = shard.accumulator(1);
        float[] leaf = new float[1];
        for (int r = 0; r < n; r++) {
            float s = 0f;
            for (int i = r * per; i < (r + 1) * per; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
            leaf[0] = s;
            acc.add(shard.offset() + r, leaf);
        }
        float count = (float) shard.batch() * per;
        float value = lossValue(shard, acc.sums(), count);
        return Tensor.result(new float[] {value}, new int[0], new MseLossMeanBackward(input, target, count));
    }

    private static final class MseLossMeanBackward extends Node {
        private final float count;

        MseLossMeanBackward(Tensor input, Tensor target, float count) {
            super(input, target);
            this.count = count;
        }

        @Override
        public String name() {
            return "MseLossBackward0";
        }

        @Override
        public Tensor[] backward(Tensor grad) {
            float[] a = inputs()[0].contiguousFloats(), b = inputs()[1].contiguousFloats();
            float scale = grad.contiguousFloats()[0] * 2f / count;
            float[] da = new float[a.length];
            for (int i = 0; i < a.length; i++) da[i] = scale * (a[i] - b[i]);
            Tensor gradTarget = null;
            if (needsGrad(1)) {
                float[] db = new float[a.length];
                for (int i = 0; i < a.length; i++) db[i] = -da[i];
                gradTarget = Tensor.of(db, inputs()[1].shape());
            }
            return new Tensor[] {Tensor.of(da, inputs()[0].shape()), gradTarget};
        }
    }

    // ---- helpers ----

    /**
     * The version under which the backend may keep copies of {@code weight}'s values
     * ({@code data}, from {@code contiguousFloats}): its storage's version where {@code data} is
     * the storage's own array, which every in-place write of a tensor bumps; where it is a copy
     * made for this call, none (a copy's array is never seen again).
     */
    private static int weightVersion(Tensor weight, float[] data) {
        return weight.storage() instanceof HostStorage h && h.array() == data ? h.version() : SampleOrderedKernels.NO_WEIGHT_VERSION;
    }

    /**
     * Records the loss's pieces in the shard (the replicas' gatherer finishes the tree from
     * them, {@link Reproducible.LossTree#value}) and returns this shard's share: on the whole
     * batch the tree's root divided once, the very value N replicas' pieces give.
     */
    private static float lossValue(Reproducible.Shard shard, List<float[]> sums, float divisor) {
        shard.recordLoss(sums, divisor);
        return shard.rows() == shard.batch() ? sums.get(0)[0] / divisor : Reproducible.Shard.fold(sums, 1)[0] / divisor;
    }

    private static Reproducible.Shard bound(String op) {
        Reproducible.Shard shard = Reproducible.current();
        if (shard == null) {
            throw new IllegalStateException(op + ": forward ran in reproducible mode but backward runs outside it; "
                    + "run backward inside the same Reproducible.bind scope");
        }
        return shard;
    }

    /** As {@link #recorded(Reproducible.Shard, Tensor, List)}; none where {@code sums} is null (no gradient asked for). */
    private static Tensor recordedSums(Reproducible.Shard shard, Tensor param, List<float[]> sums) {
        return sums == null ? null : recorded(shard, param, sums);
    }

    /** Records the sums of the shard's pieces for {@code param} and returns the shard's own sum as its gradient. */
    private static Tensor recorded(Reproducible.Shard shard, Tensor param, List<float[]> sums) {
        shard.record(param, sums);
        return Tensor.of(Reproducible.Shard.fold(sums, param.numel()), param.shape());
    }
}
