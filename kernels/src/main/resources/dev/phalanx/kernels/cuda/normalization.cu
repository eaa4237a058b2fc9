// Batch normalisation over channel 1 of an [N, C, ...] float32 tensor, seen as [n, c, inner], and dropout.
// Batch norm follows the CPU's BatchNormOp step for step: its sums in double, its float products in the same
// order, written with __fmul_rn / __fadd_rn / __fsub_rn where the CPU rounds each float step (nvcc would otherwise
// contract a * b + c into one FMA and round once). Each channel's sums are one block's fixed tree: deterministic.

#define BN_THREADS 256

// element j (0 <= j < n * inner) of channel ch
__device__ long long bn_index(long long j, int ch, int c, int inner) {
    return ((j / inner) * c + ch) * (long long) inner + j % inner;
}

// shared[0] = the sum of every thread's `v` over one block of BN_THREADS threads (a fixed tree); every thread returns it
__device__ double bn_block_sum(double* shared, double v) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) shared[threadIdx.x] += shared[threadIdx.x + k];
        __syncthreads();
    }
    double s = shared[0];
    __syncthreads();
    return s;
}

// Training: each channel's batch mean and 1/sqrt(biased variance + eps); when update_running, the running mean and
// the running (unbiased) variance move by momentum. One block of BN_THREADS per channel (blocks stride over channels).
extern "C" __global__ void batch_norm_stats(const float* __restrict__ x, float* __restrict__ mean, float* __restrict__ invstd,
                                            float* __restrict__ running_mean, float* __restrict__ running_var, int n, int c, int inner,
                                            float eps, float momentum, int update_running) {
    __shared__ double shared[BN_THREADS];
    long long count = (long long) n * inner;
    for (int ch = blockIdx.x; ch < c; ch += gridDim.x) {
        double s = 0.0;
        for (long long j = threadIdx.x; j < count; j += blockDim.x) s += (double) x[bn_index(j, ch, c, inner)];
        float m = (float) (bn_block_sum(shared, s) / (double) count);
        double q = 0.0;
        for (long long j = threadIdx.x; j < count; j += blockDim.x) {
            double d = (double) __fsub_rn(x[bn_index(j, ch, c, inner)], m);
            q += d * d;
        }
        double sq = bn_block_sum(shared, q);
        if (threadIdx.x == 0) {
            float v = (float) (sq / (double) count);
            mean[ch] = m;
            invstd[ch] = (float) (1.0 / sqrt((double) __fadd_rn(v, eps)));
            if (update_running) {
                float keep = 1.0f - momentum;
                running_mean[ch] = __fadd_rn(__fmul_rn(keep, running_mean[ch]), __fmul_rn(momentum, m));
                running_var[ch] = __fadd_rn(__fmul_rn(keep, running_var[ch]), __fmul_rn(momentum, (float) (sq / (double) (count - 1))));
            }
        }
    }
}

// Evaluation: the running statistics as mean and 1/sqrt(var + eps)
extern "C" __global__ void batch_norm_eval_stats(const float* __restrict__ running_mean, const float* __restrict__ running_var,
                                                 float* __restrict__ mean, float* __restrict__ invstd, int c, float eps) {
    for (int ch = blockIdx.x * blockDim.x + threadIdx.x; ch < c; ch += blockDim.x * gridDim.x) {
        mean[ch] = running_mean[ch];
        invstd[ch] = (float) (1.0 / sqrt((double) __fadd_rn(running_var[ch], eps)));
    }
}

// y = (x - mean) * invstd * weight + bias per channel (weight 1 and bias 0 where has_weight / has_bias is 0)
extern "C" __global__ void batch_norm_apply(const float* __restrict__ x, float* __restrict__ y, const float* __restrict__ mean,
                                            const float* __restrict__ invstd, const float* __restrict__ weight, const float* __restrict__ bias,
                                            int has_weight, int has_bias, long long total, int c, int inner) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) blockDim.x * gridDim.x) {
        int ch = (int) ((i / inner) % c);
        float gamma = has_weight ? weight[ch] : 1.0f, beta = has_bias ? bias[ch] : 0.0f;
        y[i] = __fadd_rn(__fmul_rn(__fmul_rn(__fsub_rn(x[i], mean[ch]), invstd[ch]), gamma), beta);
    }
}

// Per channel: sums[2 ch] = the sum of g, sums[2 ch + 1] = the sum of g * (x - mean) * invstd (in double), and the
// bias and weight gradients db, dw as their floats. One block of BN_THREADS per channel.
extern "C" __global__ void batch_norm_backward_reduce(const float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ mean,
                                                      const float* __restrict__ invstd, double* __restrict__ sums, float* __restrict__ dw,
                                                      float* __restrict__ db, int n, int c, int inner) {
    __shared__ double shared[BN_THREADS];
    long long count = (long long) n * inner;
    for (int ch = blockIdx.x; ch < c; ch += gridDim.x) {
        double sg = 0.0, sgx = 0.0;
        for (long long j = threadIdx.x; j < count; j += blockDim.x) {
            long long i = bn_index(j, ch, c, inner);
            sg += (double) g[i];
            sgx += (double) __fmul_rn(__fmul_rn(g[i], __fsub_rn(x[i], mean[ch])), invstd[ch]);
        }
        double sumG = bn_block_sum(shared, sg);
        double sumGX = bn_block_sum(shared, sgx);
        if (threadIdx.x == 0) {
            sums[2 * ch] = sumG;
            sums[2 * ch + 1] = sumGX;
            db[ch] = (float) sumG;
            dw[ch] = (float) sumGX;
        }
    }
}

// dx: in training gamma * invstd * (g - sumG / count - xhat * sumGX / count) with xhat = (x - mean) * invstd, the
// double parts in double as the CPU; in evaluation gamma * invstd * g
extern "C" __global__ void batch_norm_backward_input(const float* __restrict__ g, const float* __restrict__ x, const float* __restrict__ mean,
                                                     const float* __restrict__ invstd, const float* __restrict__ weight, int has_weight,
                                                     const double* __restrict__ sums, float* __restrict__ dx, long long total, int c, int inner,
                                                     long long count, int training) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) blockDim.x * gridDim.x) {
        int ch = (int) ((i / inner) % c);
        float gi = __fmul_rn(has_weight ? weight[ch] : 1.0f, invstd[ch]);
        if (training) {
            float xhat = __fmul_rn(__fsub_rn(x[i], mean[ch]), invstd[ch]);
            double a = (double) g[i] - sums[2 * ch] / (double) count;
            double b = (double) xhat * sums[2 * ch + 1];
            dx[i] = (float) ((double) gi * (a - b / (double) count));
        } else {
            dx[i] = __fmul_rn(gi, g[i]);
        }
    }
}

// ---- dropout: element i is kept when a uniform number in [0, 1) drawn from (seed, offset + i) is >= p, and then scaled
// by `scale` (1 / (1 - p)). The number is SplitMix64's output for the counter offset + i + 1 from the seed, its top 24
// bits as a float (as Generator.nextFloat). The seed and the offset are read from device memory (rng[0], rng[1]: a
// generator's state on the device, its seed drawn once from the op's Generator) and rng_advance moves the offset past
// the call's n counters on the device, so a captured step replayed draws a new mask each time, as PyTorch's graph-safe
// Philox state does; the masks are the same on every device and every run, eager or replayed. They are not the CPU's,
// whose numbers come from the generator one per element.

__device__ float dropout_uniform(long long seed, long long i) {
    unsigned long long z = (unsigned long long) seed + (unsigned long long) (i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (float) (z >> 40) * 5.9604644775390625e-8f;  // 2^-24
}

// y = x * (kept ? scale : 0); keep[i] = 1 where kept, for the backward
extern "C" __global__ void dropout_forward(const float* __restrict__ x, float* __restrict__ y, unsigned char* __restrict__ keep, long long n,
                                           float p, float scale, const long long* __restrict__ rng) {
    long long seed = rng[0], offset = rng[1];
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        bool k = dropout_uniform(seed, offset + i) >= p;
        keep[i] = k ? 1 : 0;
        y[i] = x[i] * (k ? scale : 0.0f);
    }
}

// the generator's offset past a call's n counters, after the call that drew them (one thread: the draws all read it)
extern "C" __global__ void rng_advance(long long* __restrict__ rng, long long n) {
    if (blockIdx.x == 0 && threadIdx.x == 0) rng[1] += n;
}

// dx = g * (kept ? scale : 0)
extern "C" __global__ void dropout_backward(const float* __restrict__ g, const unsigned char* __restrict__ keep, float* __restrict__ dx,
                                            long long n, float scale) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        dx[i] = g[i] * (keep[i] ? scale : 0.0f);
    }
}
