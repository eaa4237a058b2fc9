package dev.phalanx.ops;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Node;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/**
 * Batch normalisation over channel 1 of an [N, C, ...] tensor. In training it normalises with
 * the batch's statistics and updates the running ones (unbiased variance, as PyTorch); in
 * evaluation it uses the running statistics. On a device: {@link DeviceNorm}, the same arithmetic.
 */
public final class BatchNormOp {

    private BatchNormOp() { }

    public static Tensor apply(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                               boolean training, float momentum, float eps) {
        DType dtype = Float32Edge.dtype("batch_norm", x, weight, bias);
        if (dtype != DType.FLOAT32 || isOtherThanFloat32(runningMean) || isOtherThanFloat32(runningVar)) {
            return inFloat32(x, runningMean, runningVar, weight, bias, training, momentum, eps, dtype);
        }
        int[] s = x.shape();
        if (s.length < 2) throw new IllegalArgumentException("batch_norm: expected at least 2-D input [N, C, ...], got " + Shapes.str(s));
        int n = s[0], c = s[1], inner = x.numel() / Math.max(1, n * c);
        if (runningMean != null && runningMean.numel() != c) {
            throw new IllegalArgumentException("batch_norm: running_mean should contain " + c + " elements not " + runningMean.numel());
        }
        int count = n * inner;
        if (training && count <= 1) {
            throw new IllegalArgumentException("batch_norm: Expected more than 1 value per channel when training, got input size " + Shapes.str(s));
        }
        if (!x.device().isCpu()) return DeviceNorm.batchNorm(x, runningMean, runningVar, weight, bias, training, momentum, eps, n, c, inner);
        float[] in = x.contiguousFloats(), out = new float[in.length], mean = new float[c], invstd = new float[c];
        for (int ch = 0; ch < c; ch++) {
            float m, v;
            if (training) {
                double sum = 0, sq = 0;
                for (int b = 0; b < n; b++) {
                    int base = (b * c + ch) * inner;
                    for (int i = 0; i < inner; i++) sum += in[base + i];
                }
                m = (float) (sum / count);
                for (int b = 0; b < n; b++) {
                    int base = (b * c + ch) * inner;
                    for (int i = 0; i < inner; i++) {
                        double d = in[base + i] - m;
                        sq += d * d;
                    }
                }
                v = (float) (sq / count);
                if (runningMean != null) {
                    float[] rm = runningMean.data(), rv = runningVar.data();
                    rm[ch] = (1 - momentum) * rm[ch] + momentum * m;
                    rv[ch] = (1 - momentum) * rv[ch] + momentum * (float) (sq / (count - 1));
                }
            } else {
                m = runningMean.data()[ch];
                v = runningVar.contiguousFloats()[ch];
            }
            mean[ch] = m;
            invstd[ch] = (float) (1 / Math.sqrt(v + eps));
            float gamma = weight == null ? 1f : weight.contiguousFloats()[ch], beta = bias == null ? 0f : bias.contiguousFloats()[ch];
            for (int b = 0; b < n; b++) {
                int base = (b * c + ch) * inner;
                for (int i = 0; i < inner; i++) out[base + i] = (in[base + i] - m) * invstd[ch] * gamma + beta;
            }
        }
        return Tensor.result(out, s, new BatchNormBackward(x, weight, bias, mean, invstd, training, n, c, inner));
    }

    private static boolean isOtherThanFloat32(Tensor t) {
        return t != null && t.dtype() != DType.FLOAT32;
    }

    /**
     * Batch norm for another floating dtype (Float32Edge): the running statistics are updated
     * in float32 copies and written back into the module's own tensors, so training in float64
     * keeps them moving.
     */
    private static Tensor inFloat32(Tensor x, Tensor runningMean, Tensor runningVar, Tensor weight, Tensor bias,
                                    boolean training, float momentum, float eps, DType dtype) {
        Float32Edge.dtype("batch_norm", runningMean, runningVar);
        Tensor mean = Float32Edge.in(runningMean), var = Float32Edge.in(runningVar);
        Tensor y = apply(Float32Edge.in(x), mean, var, Float32Edge.in(weight), Float32Edge.in(bias), training, momentum, eps);
        try (GradMode.Scope ignored = GradMode.noGrad()) {
            if (runningMean != null && mean != runningMean) runningMean.copy_(mean);
            if (runningVar != null && var != runningVar) runningVar.copy_(var);
        }
        return Float32Edge.out(y, dtype);
    }

    private static final class BatchNormBackward extends Node {
        private final float[] mean, invstd;
        private final boolean training;
        private final int n, c, inner;

        BatchNormBackward(Tensor x, Tensor w, Tensor b, float[] mean, float[] invstd, boolean training, int n, int c, int inner) {
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
            float[] g = grad.contiguousFloats(), x = inputs()[0].contiguousFloats();
            Tensor w = inputs()[1];
            float[] dx = new float[x.length], dw = new float[c], db = new float[c];
            int count = n * inner;
            for (int ch = 0; ch < c; ch++) {
                double sumG = 0, sumGX = 0;
                for (int b = 0; b < n; b++) {
                    int base = (b * c + ch) * inner;
                    for (int i = 0; i < inner; i++) {
                        sumG += g[base + i];
                        sumGX += g[base + i] * (x[base + i] - mean[ch]) * invstd[ch];
                    }
                }
                db[ch] = (float) sumG;
                dw[ch] = (float) sumGX;
                float gamma = w == null ? 1f : w.contiguousFloats()[ch];
                for (int b = 0; b < n; b++) {
                    int base = (b * c + ch) * inner;
                    for (int i = 0; i < inner; i++) {
                        if (training) {
                            float xhat = (x[base + i] - mean[ch]) * invstd[ch];
                            dx[base + i] = (float) (gamma * invstd[ch] * (g[base + i] - sumG / count - xhat * sumGX / count));
                        } else {
                            dx[base + i] = gamma * invstd[ch] * g[base + i];
                        }
                    }
                }
            }
            return new Tensor[] {
                Tensor.of(dx, inputs()[0].shape()),
                needsGrad(1) ? Tensor.of(dw, c) : null,
                needsGrad(2) ? Tensor.of(db, c) : null};
        }
    }
}
