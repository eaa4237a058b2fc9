package dev.phalanx.optim;

import java.util.List;
import java.util.Map;

import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Tensor;

/**
 * RMSprop: g += wd*p; v = alpha v + (1-alpha) g^2; avg = sqrt(v) + eps (centred: sqrt(v - mean_g^2) + eps);
 * with momentum buf = momentum*buf + g/avg and p -= lr*buf, else p -= lr*g/avg.
 */
public final class RMSprop extends Optimizer {

    private final float alpha, eps, weightDecay, momentum;
    private final boolean centered;

    public RMSprop(List<Tensor> params, float lr) {
        this(params, lr, 0.99f, 1e-8f, 0f, 0f, false);
    }

    public RMSprop(List<Tensor> params, float lr, float alpha, float eps, float weightDecay, float momentum, boolean centered) {
        super(params, lr);
        if (!(alpha >= 0)) throw new IllegalArgumentException("Invalid alpha value: " + alpha);
        if (!(eps >= 0)) throw new IllegalArgumentException("Invalid epsilon value: " + eps);
        if (!(momentum >= 0)) throw new IllegalArgumentException("Invalid momentum value: " + momentum);
        this.alpha = alpha;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.momentum = momentum;
        this.centered = centered;
    }

    /**
     * The fused {@code rmsprop_step} kernel, centred or not; its buffers and step count live on the parameter's device (the
     * count advanced there), the learning rate is read in device memory: the step can be captured.
     */
    @Override
    protected void updateOnDevice(Tensor p, Tensor g, Map<String, Tensor> st) {
        var context = deviceOf(p, g);
        var s = context.stream();
        nextDeviceStep(st, p, context, s);
        Tensor v = deviceBuffer(st, "square_avg", p), buf = momentum > 0 ? deviceBuffer(st, "momentum_buffer", p) : null;
        Tensor gAvg = centered ? deviceBuffer(st, "grad_avg", p) : null;
        context.ops().rmspropStep(s, p.numel(), DeviceTensors.writableBuffer(p, s, "RMSprop.step"), DeviceTensors.buffer(g, s),
                DeviceTensors.buffer(v, s), buf == null ? null : DeviceTensors.buffer(buf, s), gAvg == null ? null : DeviceTensors.buffer(gAvg, s),
                lrBuffer(p, s), alpha, eps, weightDecay, momentum);
    }

    @Override
    public boolean capturable() {
        return true;
    }

    @Override
    protected void update(float[] p, float[] g, Map<String, Tensor> st) {
        int n = p.length;
        nextStep(st);
        float[] v = buffer(st, "square_avg", n);
        float[] gAvg = centered ? buffer(st, "grad_avg", n) : null;
        float[] buf = momentum > 0 ? buffer(st, "momentum_buffer", n) : null;
        for (int i = 0; i < n; i++) {
            float gi = weightDecay != 0 ? g[i] + weightDecay * p[i] : g[i];
            v[i] = v[i] * alpha + (1 - alpha) * gi * gi;
            float avg;
            if (centered) {
                gAvg[i] = gAvg[i] * alpha + (1 - alpha) * gi;
                avg = (float) Math.sqrt(v[i] - gAvg[i] * gAvg[i]) + eps;
            } else {
                avg = (float) Math.sqrt(v[i]) + eps;
            }
            if (buf != null) {
                buf[i] = buf[i] * momentum + gi / avg;
                p[i] -= lr * buf[i];
            } else {
                p[i] -= lr * (gi / avg);
            }
        }
    }
}
