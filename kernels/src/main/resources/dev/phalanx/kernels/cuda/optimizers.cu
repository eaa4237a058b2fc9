// Fused optimizer updates, one thread per parameter element, following torch.optim's
// single-tensor rules (see the golden README). The learning rate and the step count are read from
// device memory (torch.optim's capturable=True), so a captured step replayed uses the current lr and
// its own step's bias corrections; the host passes only the constants of the rule.

// A parameter's step count (float32, as torch.optim's `step` tensor, exact up to 2^24), advanced on the
// device once per step, before the update that reads it (a kernel of its own: the update's threads
// all read the count, so none of them may write it).
extern "C" __global__ void step_count_increment(float* __restrict__ step) {
    if (blockIdx.x == 0 && threadIdx.x == 0) step[0] += 1.0f;
}

// SGD: d = g + wd*p; buf = d on the first step, else momentum*buf + (1-dampening)*d;
// d = d + momentum*buf (Nesterov) or buf; p -= lr*d
extern "C" __global__ void sgd_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ buf, long long n,
                                    const float* __restrict__ lr_at, float momentum, float dampening, float weight_decay, int nesterov, int first) {
    float lr = *lr_at;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        float d = g[i] + weight_decay * p[i];
        if (momentum != 0.0f) {
            float b = first ? d : momentum * buf[i] + (1.0f - dampening) * d;
            buf[i] = b;
            d = nesterov ? d + momentum * b : b;
        }
        p[i] -= lr * d;
    }
}

// Adam / AdamW: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= step_size * m / (sqrt(v)/bias2_sqrt + eps)
// decoupled (AdamW): p *= 1 - lr*wd first; else (Adam) g += wd*p before the moments.
// The bias corrections from the step count t (already advanced for this step) in float64, as the CPU rule
// (Adam.update): bias1 = 1 - beta1^t, bias2 = 1 - beta2^t, step_size = (float) (lr / bias1),
// bias2_sqrt = (float) sqrt(bias2). Division and sqrt are correctly rounded in double; pow is CUDA's, within
// 2 ulp of the CPU's StrictMath.pow (fdlibm), so a GPU may differ from the CPU rule in the last bit of a
// bias correction (the simulated device's twin uses StrictMath.pow and gives the CPU's bits).
extern "C" __global__ void adam_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m, float* __restrict__ v,
                                     long long n, const float* __restrict__ lr_at, const float* __restrict__ step_at, float beta1,
                                     float beta2, float eps, float weight_decay, int decoupled) {
    float lr = *lr_at;
    double t = (double) *step_at;
    double bias1 = 1.0 - pow((double) beta1, t), bias2 = 1.0 - pow((double) beta2, t);
    float step_size = (float) ((double) lr / bias1);
    float bias2_sqrt = (float) sqrt(bias2);
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        float pi = p[i], gi = g[i];
        if (decoupled) pi *= 1.0f - lr * weight_decay;
        else gi += weight_decay * pi;
        float mi = m[i] * beta1 + (1.0f - beta1) * gi;
        float vi = v[i] * beta2 + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] = pi - step_size * (mi / (sqrtf(vi) / bias2_sqrt + eps));
    }
}

// RMSprop: v = alpha v + (1-alpha) g^2; avg = sqrt(v) + eps, or centred (grad_avg = alpha grad_avg + (1-alpha) g,
// avg = sqrt(v - grad_avg^2) + eps); with momentum buf = momentum*buf + g/avg, p -= lr*buf; else p -= lr*g/avg.
// v and grad_avg are rounded step by step (__fmul_rn, __fadd_rn: no FMA), as the CPU's float operations: v - grad_avg^2
// cancels, and would magnify a contracted product's different rounding. grad_avg is unread unless centred.
extern "C" __global__ void rmsprop_step(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ v, float* __restrict__ buf,
                                        float* __restrict__ grad_avg, long long n, const float* __restrict__ lr_at, float alpha, float eps,
                                        float weight_decay, float momentum, int centered) {
    float lr = *lr_at;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        float gi = g[i] + weight_decay * p[i];
        float vi = __fadd_rn(__fmul_rn(v[i], alpha), __fmul_rn(__fmul_rn(1.0f - alpha, gi), gi));
        v[i] = vi;
        float avg;
        if (centered) {
            float ga = __fadd_rn(__fmul_rn(grad_avg[i], alpha), __fmul_rn(1.0f - alpha, gi));
            grad_avg[i] = ga;
            avg = sqrtf(__fsub_rn(vi, __fmul_rn(ga, ga))) + eps;
        } else {
            avg = sqrtf(vi) + eps;
        }
        if (momentum > 0.0f) {
            float b = buf[i] * momentum + gi / avg;
            buf[i] = b;
            p[i] -= lr * b;
        } else {
            p[i] -= lr * (gi / avg);
        }
    }
}
