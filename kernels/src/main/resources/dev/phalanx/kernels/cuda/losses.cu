// Cross entropy from logits (log_softmax then nll_loss), one block per row, and its gradient.

#define CE_THREADS 128

// logprobs[r, :] = log_softmax(logits[r, :]); rowloss[r] = -logprobs[r, target[r]]
// Launch with n blocks of CE_THREADS threads. A target out of range gives NaN, which the host checks.
extern "C" __global__ void cross_entropy_forward(const float* __restrict__ logits, const long long* __restrict__ target,
                                                 float* __restrict__ logprobs, float* __restrict__ rowloss, int n, int c) {
    __shared__ float shared[CE_THREADS];
    int r = blockIdx.x;
    if (r >= n) return;
    const float* row = logits + (long long) r * c;
    float m = -INFINITY;
    for (int k = threadIdx.x; k < c; k += blockDim.x) m = fmaxf(m, row[k]);
    shared[threadIdx.x] = m;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) shared[threadIdx.x] = fmaxf(shared[threadIdx.x], shared[threadIdx.x + s]);
        __syncthreads();
    }
    float max = shared[0];
    __syncthreads();
    float sum = 0.0f;
    for (int k = threadIdx.x; k < c; k += blockDim.x) sum += expf(row[k] - max);
    shared[threadIdx.x] = sum;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
        __syncthreads();
    }
    float lse = max + logf(shared[0]);
    for (int k = threadIdx.x; k < c; k += blockDim.x) logprobs[(long long) r * c + k] = row[k] - lse;
    if (threadIdx.x == 0) {
        long long t = target[r];
        rowloss[r] = (t >= 0 && t < c) ? lse - row[t] : NAN;
    }
}

// dlogits = (softmax - onehot(target)) * scale, scale = gradOut / n for the mean
extern "C" __global__ void cross_entropy_backward(const float* __restrict__ logprobs, const long long* __restrict__ target,
                                                  float* __restrict__ dlogits, int n, int c, float scale) {
    long long total = (long long) n * c;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) blockDim.x * gridDim.x) {
        int r = (int) (i / c), k = (int) (i % c);
        float g = expf(logprobs[i]);
        if (k == target[r]) g -= 1.0f;
        dlogits[i] = g * scale;
    }
}

// out[i] = (a[i] - b[i])^2: mse_loss's terms (reduction none), summed by sum_all for mean and sum
extern "C" __global__ void squared_difference(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ out, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        float d = a[i] - b[i];
        out[i] = d * d;
    }
}

// mse_loss's gradient: da[i] = scale * g * (a[i] - b[i]), g = grad[i] (per_element 1, reduction none) or grad[0]
// (read on the device: no host synchronisation); scale is 2 / n for the mean, 2 otherwise; db = -da when write_db
extern "C" __global__ void mse_backward(const float* __restrict__ a, const float* __restrict__ b, const float* __restrict__ grad,
                                        float* __restrict__ da, float* __restrict__ db, long long n, float scale, int per_element, int write_db) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        float g = per_element ? grad[i] * 2.0f : grad[0] * scale;
        float d = g * (a[i] - b[i]);
        da[i] = d;
        if (write_db) db[i] = -d;
    }
}

// nll_loss's terms: rowloss[r] = -logprobs[r, target[r]]; a target out of range gives NaN (the host cannot check
// device targets without waiting)
extern "C" __global__ void nll_forward(const float* __restrict__ logprobs, const long long* __restrict__ target, float* __restrict__ rowloss,
                                       int n, int c) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < n; r += blockDim.x * gridDim.x) {
        long long t = target[r];
        rowloss[r] = (t >= 0 && t < c) ? -logprobs[(long long) r * c + t] : NAN;
    }
}

// nll_loss's gradient: dx[r, k] = -g where k == target[r], else 0; g = grad[r] (per_element 1, reduction none)
// or grad[0] * scale (1 / n for the mean, 1 for the sum), read on the device
extern "C" __global__ void nll_backward(const long long* __restrict__ target, const float* __restrict__ grad, float* __restrict__ dx, int n,
                                        int c, float scale, int per_element) {
    long long total = (long long) n * c;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) blockDim.x * gridDim.x) {
        int r = (int) (i / c), k = (int) (i % c);
        float g = per_element ? grad[r] : grad[0] * scale;
        dx[i] = k == target[r] ? -g : 0.0f;
    }
}
