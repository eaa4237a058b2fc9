package dev.phalanx.optim;

import java.util.List;
import java.util.Map;

import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Tensor;

/**
 * Adam, and with {@code decoupled} AdamW. With L2 weight decay (Adam) g += wd*p before the
 * moments; with decoupled decay (AdamW) p *= 1 - lr*wd first. Then m = b1 m + (1-b1) g,
 * v = b2 v + (1-b2) g^2, p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 */
public class Adam extends Optimizer {

    private final float beta1, beta2, eps, weightDecay;
    private final boolean decoupled;

    public Adam(List<Tensor> params, float lr) {
        this(params, lr, 0.9f, 0.999f, 1e-8f, 0f);
    }

    public Adam(List<Tensor> params, float lr, float beta1, float beta2, float eps, float weightDecay) {
        this(params, lr, beta1, beta2, eps, weightDecay, false);
    }

    protected Adam(List<Tensor> params, float lr, float beta1, float beta2, float eps, float weightDecay, boolean decoupled) {
        super(params, lr);
        if (!(beta1 >= 0 && beta1 < 1)) throw new IllegalArgumentException("Invalid beta parameter at index 0: " + beta1);
        if (!(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("Invalid beta parameter at index 1: " + beta2);
        if (!(eps >= 0)) throw new IllegalArgumentException("Invalid epsilon value: " + eps);
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("Invalid weight_decay value: " + weightDecay);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.decoupled = decoupled;
    }

    /**
     * The fused {@code adam_step} kernel after {@code step_count_increment}: the moments and the step count live on the
     * parameter's device, and the kernel computes the bias corrections there from the count, as {@link #update} does on the
     * host; the learning rate is read in device memory. Nothing per step comes from the host, so the step can be captured.
     */
    @Override
    protected void updateOnDevice(Tensor p, Tensor g, Map<String, Tensor> st) {
        var context = deviceOf(p, g);
        var s = context.stream();
        DeviceBuffer step = nextDeviceStep(st, p, context, s);
        Tensor m = deviceBuffer(st, "exp_avg", p), v = deviceBuffer(st, "exp_avg_sq", p);
        context.ops().adamStep(s, p.numel(), DeviceTensors.writableBuffer(p, s, getClass().getSimpleName() + ".step"), DeviceTensors.buffer(g, s),
                DeviceTensors.buffer(m, s), DeviceTensors.buffer(v, s), lrBuffer(p, s), step, beta1, beta2, eps, weightDecay, decoupled);
    }

    @Override
    public boolean capturable() {
        return true;
    }

    /**
     * {@code 1 - beta^t} through {@code StrictMath.pow}, whose bits the Java spec fixes (fdlibm's
     * algorithm): {@code Math.pow} may differ from it by an ulp, and between the interpreter,
     * the JIT and one CPU and another, so the optimizer's update, elementwise and otherwise
     * exact IEEE arithmetic, would not be a constant of the code (issue #13's reproducible mode).
     */
    static double biasCorrection(float beta, int t) {
        return 1 - StrictMath.pow(beta, t);
    }

    @Override
    protected void update(float[] p, float[] g, Map<String, Tensor> st) {
        int n = p.length;
        int t = nextStep(st);
        float[] m = buffer(st, "exp_avg", n), v = buffer(st, "exp_avg_sq", n);
        if (decoupled && weightDecay != 0) {
            float keep = 1 - lr * weightDecay;
            for (int i = 0; i < n; i++) p[i] *= keep;
        }
        double bias1 = biasCorrection(beta1, t), bias2 = biasCorrection(beta2, t);
        float stepSize = (float) (lr / bias1);
        float bias2Sqrt = (float) Math.sqrt(bias2);
        for (int i = 0; i < n; i++) {
            float gi = !decoupled && weightDecay != 0 ? g[i] + weightDecay * p[i] : g[i];
            m[i] = m[i] * beta1 + (1 - beta1) * gi;
            v[i] = v[i] * beta2 + (1 - beta2) * gi * gi;
            float denom = (float) Math.sqrt(v[i]) / bias2Sqrt + eps;
            p[i] -= stepSize * (m[i] / denom);
        }
    }
}
