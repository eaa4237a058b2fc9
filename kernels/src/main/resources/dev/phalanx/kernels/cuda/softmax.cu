// softmax and log_softmax along one dimension of a row-major tensor seen as [outer, size, inner]:
// one block of SOFTMAX_THREADS threads per line (outer * inner lines, the line's elements inner
// apart), blocks striding over the lines, so any grid covers any tensor. Numerically stable: the
// line's maximum is subtracted before exp. The backward kernels take the forward's output y.

#define SOFTMAX_THREADS 128

// The block's maximum of v (every thread gets it). shared holds SOFTMAX_THREADS floats.
__device__ float softmax_block_max(float v, float* shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) shared[threadIdx.x] = fmaxf(shared[threadIdx.x], shared[threadIdx.x + s]);
        __syncthreads();
    }
    float r = shared[0];
    __syncthreads();
    return r;
}

// The block's sum of v, a fixed tree (deterministic); every thread gets it.
__device__ float softmax_block_sum(float v, float* shared) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) shared[threadIdx.x] += shared[threadIdx.x + s];
        __syncthreads();
    }
    float r = shared[0];
    __syncthreads();
    return r;
}

// y = softmax(x) (as_log 0) or log_softmax(x) (as_log 1) along the middle dimension
extern "C" __global__ void softmax_forward(const float* __restrict__ x, float* __restrict__ y, int outer, int size, int inner, int as_log) {
    __shared__ float shared[SOFTMAX_THREADS];
    long long lines = (long long) outer * inner;
    for (long long line = blockIdx.x; line < lines; line += gridDim.x) {
        long long base = (line / inner) * (long long) size * inner + line % inner;
        float m = -INFINITY;
        for (int k = threadIdx.x; k < size; k += blockDim.x) m = fmaxf(m, x[base + (long long) k * inner]);
        float max = softmax_block_max(m, shared);
        float s = 0.0f;
        for (int k = threadIdx.x; k < size; k += blockDim.x) s += expf(x[base + (long long) k * inner] - max);
        float sum = softmax_block_sum(s, shared);
        if (as_log) {
            float lse = max + logf(sum);
            for (int k = threadIdx.x; k < size; k += blockDim.x) y[base + (long long) k * inner] = x[base + (long long) k * inner] - lse;
        } else {
            float inv = 1.0f / sum;
            for (int k = threadIdx.x; k < size; k += blockDim.x) y[base + (long long) k * inner] = expf(x[base + (long long) k * inner] - max) * inv;
        }
    }
}

// softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g); y is the forward's output
extern "C" __global__ void softmax_backward(const float* __restrict__ y, const float* __restrict__ g, float* __restrict__ dx, int outer,
                                            int size, int inner, int as_log) {
    __shared__ float shared[SOFTMAX_THREADS];
    long long lines = (long long) outer * inner;
    for (long long line = blockIdx.x; line < lines; line += gridDim.x) {
        long long base = (line / inner) * (long long) size * inner + line % inner;
        float s = 0.0f;
        for (int k = threadIdx.x; k < size; k += blockDim.x) {
            long long i = base + (long long) k * inner;
            s += as_log ? g[i] : g[i] * y[i];
        }
        float sum = softmax_block_sum(s, shared);
        for (int k = threadIdx.x; k < size; k += blockDim.x) {
            long long i = base + (long long) k * inner;
            dx[i] = as_log ? g[i] - expf(y[i]) * sum : y[i] * (g[i] - sum);
        }
    }
}
