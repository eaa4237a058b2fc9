// 2-d max pooling over planes (N*C) of h x w, floor mode, as PyTorch's max_pool2d with
// return_indices: idx holds the flat position y*w + x of each maximum within its input plane.

// Integer min/max and the NaN test spelled out: NVRTC compiles without the C headers that declare them.
__device__ __forceinline__ int imin(int a, int b) { return a < b ? a : b; }
__device__ __forceinline__ int imax(int a, int b) { return a > b ? a : b; }

// One thread per output element; padding never wins; NaN propagates (the first NaN wins).
extern "C" __global__ void max_pool2d_forward(const float* __restrict__ x, float* __restrict__ y, int* __restrict__ idx,
                                              int planes, int h, int w, int oh, int ow, int kh, int kw, int sh, int sw, int ph, int pw) {
    long long total = (long long) planes * oh * ow;
    for (long long o = blockIdx.x * (long long) blockDim.x + threadIdx.x; o < total; o += (long long) blockDim.x * gridDim.x) {
        int ox = (int) (o % ow), oy = (int) (o / ow % oh);
        long long p = o / ((long long) oh * ow);
        const float* plane = x + p * h * w;
        int y0 = oy * sh - ph, x0 = ox * sw - pw;
        int y1 = imin(y0 + kh, h), x1 = imin(x0 + kw, w);
        y0 = imax(y0, 0);
        x0 = imax(x0, 0);
        float best = -INFINITY;
        int arg = y0 * w + x0;
        bool done = false;
        for (int yy = y0; yy < y1 && !done; yy++) {
            for (int xx = x0; xx < x1; xx++) {
                float v = plane[yy * w + xx];
                if (v > best || v != v) {
                    best = v;
                    arg = yy * w + xx;
                    if (v != v) { done = true; break; }
                }
            }
        }
        y[o] = best;
        idx[o] = arg;
    }
}

// One thread per input element: the sum of dy over the windows whose maximum it was, windows
// in row-major order (no atomics: deterministic).
extern "C" __global__ void max_pool2d_backward(const float* __restrict__ dy, const int* __restrict__ idx, float* __restrict__ dx,
                                               int planes, int h, int w, int oh, int ow, int kh, int kw, int sh, int sw, int ph, int pw) {
    long long total = (long long) planes * h * w;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) blockDim.x * gridDim.x) {
        int xx = (int) (i % w), yy = (int) (i / w % h);
        long long p = i / ((long long) h * w);
        int here = yy * w + xx;
        int oy0 = imax(0, (yy + ph - kh + sh) / sh), oy1 = imin(oh - 1, (yy + ph) / sh);
        int ox0 = imax(0, (xx + pw - kw + sw) / sw), ox1 = imin(ow - 1, (xx + pw) / sw);
        float s = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++) {
            for (int ox = ox0; ox <= ox1; ox++) {
                long long o = (p * oh + oy) * ow + ox;
                if (idx[o] == here) s += dy[o];
            }
        }
        dx[i] = s;
    }
}
