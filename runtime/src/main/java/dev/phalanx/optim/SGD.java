package dev.phalanx.optim;

import java.util.List;
import java.util.Map;

import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Tensor;

/**
 * Stochastic gradient descent with momentum, dampening, Nesterov and weight decay:
 * d = g + wd*p; buf = d on the first step, else momentum*buf + (1-dampening)*d;
 * d = d + momentum*buf (Nesterov) or buf; p -= lr*d.
 */
public final class SGD extends Optimizer {

    private final float momentum, dampening, weightDecay;
    private final boolean nesterov;

    public SGD(List<Tensor> params, float lr) {
        this(params, lr, 0f, 0f, 0f, false);
    }

    public SGD(List<Tensor> params, float lr, float momentum) {
        this(params, lr, momentum, 0f, 0f, false);
    }

    public SGD(List<Tensor> params, float lr, float momentum, float dampening, float weightDecay, boolean nesterov) {
        super(params, lr);
        if (momentum < 0) throw new IllegalArgumentException("Invalid momentum value: " + momentum);
        if (weightDecay < 0) throw new IllegalArgumentException("Invalid weight_decay value: " + weightDecay);
        if (nesterov && (momentum <= 0 || dampening != 0)) {
            throw new IllegalArgumentException("Nesterov momentum requires a momentum and zero dampening");
        }
        this.momentum = momentum;
        this.dampening = dampening;
        this.weightDecay = weightDecay;
        this.nesterov = nesterov;
    }

    /**
     * The fused {@code sgd_step} kernel; its momentum buffer lives on the parameter's device, the learning rate is read in
     * device memory. Whether this is the first step (the buffer is then set, not blended) is the host's, and constant from
     * the second step on: a step captured after the first replays correctly.
     */
    @Override
    protected void updateOnDevice(Tensor p, Tensor g, Map<String, Tensor> st) {
        var context = deviceOf(p, g);
        boolean first = momentum != 0 && !st.containsKey("momentum_buffer");
        Tensor buf = momentum != 0 ? deviceBuffer(st, "momentum_buffer", p) : null;
        var s = context.stream();
        context.ops().sgdStep(s, p.numel(), DeviceTensors.writableBuffer(p, s, "SGD.step"), DeviceTensors.buffer(g, s), buf == null ? null : DeviceTensors.buffer(buf, s),
                lrBuffer(p, s), momentum, dampening, weightDecay, nesterov, first);
    }

    @Override
    public boolean capturable() {
        return true;
    }

    @Override
    protected void update(float[] p, float[] g, Map<String, Tensor> st) {
        int n = p.length;
        float[] d = g;
        if (weightDecay != 0) {
            d = new float[n];
            for (int i = 0; i < n; i++) d[i] = g[i] + weightDecay * p[i];
        }
        if (momentum != 0) {
            boolean first = !st.containsKey("momentum_buffer");
            float[] buf = buffer(st, "momentum_buffer", n);
            if (first) {
                System.arraycopy(d, 0, buf, 0, n);
            } else {
                for (int i = 0; i < n; i++) buf[i] = momentum * buf[i] + (1 - dampening) * d[i];
            }
            if (nesterov) {
                for (int i = 0; i < n; i++) p[i] -= lr * (d[i] + momentum * buf[i]);
                return;
            }
            d = buf;
        }
        for (int i = 0; i < n; i++) p[i] -= lr * d[i];
    }
}
