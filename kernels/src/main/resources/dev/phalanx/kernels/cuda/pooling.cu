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

// ---- average pooling, counting padded cells (count_include_pad=True): the divisor is the window clipped
// to the padded input, as the CPU kernel's

__device__ __forceinline__ int avg_pool_divisor(int oy, int ox, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw) {
    int y0 = oy * sh - ph, x0 = ox * sw - pw;
    int y1 = imin(y0 + kh, h + ph), x1 = imin(x0 + kw, w + pw);
    return (y1 - y0) * (x1 - x0);
}

// One thread per output element: the window's sum over the divisor.
extern "C" __global__ void avg_pool2d_forward(const float* __restrict__ x, float* __restrict__ y, int planes, int h, int w, int oh, int ow,
                                              int kh, int kw, int sh, int sw, int ph, int pw) {
    long long total = (long long) planes * oh * ow;
    for (long long o = blockIdx.x * (long long) blockDim.x + threadIdx.x; o < total; o += (long long) blockDim.x * gridDim.x) {
        int ox = (int) (o % ow), oy = (int) (o / ow % oh);
        const float* plane = x + o / ((long long) oh * ow) * h * w;
        int y0 = imax(oy * sh - ph, 0), x0 = imax(ox * sw - pw, 0);
        int y1 = imin(oy * sh - ph + kh, h), x1 = imin(ox * sw - pw + kw, w);
        float s = 0.0f;
        for (int yy = y0; yy < y1; yy++)
            for (int xx = x0; xx < x1; xx++) s += plane[yy * w + xx];
        y[o] = s / avg_pool_divisor(oy, ox, h, w, kh, kw, sh, sw, ph, pw);
    }
}

// One thread per input element: dy / divisor summed over the windows that hold it, in row-major order.
extern "C" __global__ void avg_pool2d_backward(const float* __restrict__ dy, float* __restrict__ dx, int planes, int h, int w, int oh, int ow,
                                               int kh, int kw, int sh, int sw, int ph, int pw) {
    long long total = (long long) planes * h * w;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) blockDim.x * gridDim.x) {
        int xx = (int) (i % w), yy = (int) (i / w % h);
        long long p = i / ((long long) h * w);
        int oy0 = imax(0, (yy + ph - kh + sh) / sh), oy1 = imin(oh - 1, (yy + ph) / sh);
        int ox0 = imax(0, (xx + pw - kw + sw) / sw), ox1 = imin(ow - 1, (xx + pw) / sw);
        float s = 0.0f;
        for (int oy = oy0; oy <= oy1; oy++)
            for (int ox = ox0; ox <= ox1; ox++) s += dy[(p * oh + oy) * ow + ox] / avg_pool_divisor(oy, ox, h, w, kh, kw, sh, sw, ph, pw);
        dx[i] = s;
    }
}

// ---- adaptive average pooling: output cell (oy, ox) averages rows [floor(oy*h/oh), ceil((oy+1)*h/oh)) and
// the columns alike

extern "C" __global__ void adaptive_avg_pool2d_forward(const float* __restrict__ x, float* __restrict__ y, int planes, int h, int w, int oh,
                                                       int ow) {
    long long total = (long long) planes * oh * ow;
    for (long long o = blockIdx.x * (long long) blockDim.x + threadIdx.x; o < total; o += (long long) blockDim.x * gridDim.x) {
        int ox = (int) (o % ow), oy = (int) (o / ow % oh);
        const float* plane = x + o / ((long long) oh * ow) * h * w;
        int y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
        int x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
        float s = 0.0f;
        for (int yy = y0; yy < y1; yy++)
            for (int xx = x0; xx < x1; xx++) s += plane[yy * w + xx];
        y[o] = s / ((y1 - y0) * (x1 - x0));
    }
}

// One thread per input element: over every output cell whose window holds it, in row-major order.
extern "C" __global__ void adaptive_avg_pool2d_backward(const float* __restrict__ dy, float* __restrict__ dx, int planes, int h, int w, int oh,
                                                        int ow) {
    long long total = (long long) planes * h * w;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) blockDim.x * gridDim.x) {
        int xx = (int) (i % w), yy = (int) (i / w % h);
        long long p = i / ((long long) h * w);
        float s = 0.0f;
        for (int oy = 0; oy < oh; oy++) {
            int y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
            if (yy < y0 || yy >= y1) continue;
            for (int ox = 0; ox < ow; ox++) {
                int x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
                if (xx >= x0 && xx < x1) s += dy[(p * oh + oy) * ow + ox] / ((y1 - y0) * (x1 - x0));
            }
        }
        dx[i] = s;
    }
}
