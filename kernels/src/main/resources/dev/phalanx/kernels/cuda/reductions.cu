// Row and column reductions: argmax over classes, and column sums (bias gradients).

// idx[r] = the first index of the largest value in row r of an n x c matrix (NaN wins, as in PyTorch)
extern "C" __global__ void argmax_rows(const float* __restrict__ x, long long* __restrict__ idx, int n, int c) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < n; r += blockDim.x * gridDim.x) {
        const float* row = x + (long long) r * c;
        int best = 0;
        float bv = row[0];
        for (int k = 1; k < c; k++) {
            float v = row[k];
            if (v > bv || (v != v && bv == bv)) {  // v != v: NaN, without the header NVRTC lacks
                bv = v;
                best = k;
            }
        }
        idx[r] = best;
    }
}

// out[j] = sum over rows of x[r, j]: one thread per column, rows summed in order (deterministic)
extern "C" __global__ void sum_columns(const float* __restrict__ x, float* __restrict__ out, int rows, int cols) {
    for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < cols; j += blockDim.x * gridDim.x) {
        float s = 0.0f;
        for (int r = 0; r < rows; r++) s += x[(long long) r * cols + j];
        out[j] = s;
    }
}

// db[ch] = sum over images and pixels of dy[img, ch, :]: one thread per channel, images in order,
// each image's pixels summed first (the CPU kernel's order)
extern "C" __global__ void bias_grad_nchw(const float* __restrict__ dy, float* __restrict__ db, int images, int channels, int plane) {
    for (int ch = blockIdx.x * blockDim.x + threadIdx.x; ch < channels; ch += blockDim.x * gridDim.x) {
        float total = 0.0f;
        for (int img = 0; img < images; img++) {
            const float* p = dy + ((long long) img * channels + ch) * plane;
            float s = 0.0f;
            for (int i = 0; i < plane; i++) s += p[i];
            total += s;
        }
        db[ch] = total;
    }
}

#define SUM_THREADS 256

// out[0] = sum of x[0..n): launch one block of SUM_THREADS threads (a fixed tree: deterministic)
extern "C" __global__ void sum_all(const float* __restrict__ x, float* __restrict__ out, long long n) {
    __shared__ float shared[SUM_THREADS];
    float s = 0.0f;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
    shared[threadIdx.x] = s;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) shared[threadIdx.x] += shared[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = shared[0];
}
