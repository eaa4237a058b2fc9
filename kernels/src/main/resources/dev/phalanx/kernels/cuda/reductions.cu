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

// out[o, i] = scale * sum over k of x[o, k, i] for x seen as [outer, size, inner] (sum and mean along a
// dimension): one thread per output, k summed in order (deterministic, the CPU op's order)
extern "C" __global__ void sum_dim(const float* __restrict__ x, float* __restrict__ out, int outer, int size, int inner, float scale) {
    long long total = (long long) outer * inner;
    for (long long j = blockIdx.x * (long long) blockDim.x + threadIdx.x; j < total; j += (long long) blockDim.x * gridDim.x) {
        const float* p = x + (j / inner) * (long long) size * inner + j % inner;
        float s = 0.0f;
        for (int k = 0; k < size; k++) s += p[(long long) k * inner];
        out[j] = s * scale;
    }
}

// dx[o, k, i] = scale * g[o, i]: the gradient of sum_dim (and of a whole-tensor sum, with outer = inner = 1)
extern "C" __global__ void expand_dim(const float* __restrict__ g, float* __restrict__ dx, int outer, int size, int inner, float scale) {
    long long total = (long long) outer * size * inner;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) blockDim.x * gridDim.x) {
        long long o = i / ((long long) size * inner);
        dx[i] = g[o * inner + i % inner] * scale;
    }
}

// Sums src, of shape src_shape, down to dst, of shape dst_shape (both ndim long, dst_shape[d] either 1 or
// src_shape[d]): the gradient of a broadcast operand. meta holds src_shape then dst_shape. One thread per
// dst element, its src elements summed in src order (the CPU's order).
extern "C" __global__ void sum_to_shape(const float* __restrict__ src, float* __restrict__ dst, const int* __restrict__ meta, int ndim,
                                        long long m) {
    const int* src_shape = meta;
    const int* dst_shape = meta + ndim;
    long long count = 1;
    for (int d = 0; d < ndim; d++) if (dst_shape[d] == 1) count *= src_shape[d];
    for (long long j = blockIdx.x * (long long) blockDim.x + threadIdx.x; j < m; j += (long long) blockDim.x * gridDim.x) {
        long long base = 0, stride = 1, rest = j;
        for (int d = ndim - 1; d >= 0; d--) {  // j's coordinates in dst, as an offset in src
            if (dst_shape[d] != 1) {
                base += (rest % dst_shape[d]) * stride;
                rest /= dst_shape[d];
            }
            stride *= src_shape[d];
        }
        float s = 0.0f;
        for (long long r = 0; r < count; r++) {
            long long off = base, st = 1, q = r;
            for (int d = ndim - 1; d >= 0; d--) {  // r's coordinates over the summed dimensions
                if (dst_shape[d] == 1) {
                    off += (q % src_shape[d]) * st;
                    q /= src_shape[d];
                }
                st *= src_shape[d];
            }
            s += src[off];
        }
        dst[j] = s;
    }
}

// ---- the float64 sums (Reduce's sums of other floating dtypes accumulate in double): the whole tensor, along a
// dimension, and down to a broadcast operand's shape, each as its float32 kernel above

// out[0] = scale * the sum of x[0..n) in double: one block of SUM_THREADS threads, each summing its strided share in
// order, then the block's fixed tree (deterministic; not the CPU's one sequential loop, so equal within rounding)
extern "C" __global__ void sum_all_f64(const double* __restrict__ x, double* __restrict__ out, long long n, double scale) {
    __shared__ double shared[SUM_THREADS];
    double s = 0.0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) s += x[i];
    shared[threadIdx.x] = s;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) shared[threadIdx.x] += shared[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = shared[0] * scale;
}

// out[o, i] = scale * sum over k of x[o, k, i]: one thread per output, k in order from 0.0 (the CPU's loop, its bits)
extern "C" __global__ void sum_dim_f64(const double* __restrict__ x, double* __restrict__ out, int outer, int size, int inner, double scale) {
    long long total = (long long) outer * inner;
    for (long long j = blockIdx.x * (long long) blockDim.x + threadIdx.x; j < total; j += (long long) blockDim.x * gridDim.x) {
        const double* p = x + (j / inner) * (long long) size * inner + j % inner;
        double s = 0.0;
        for (int k = 0; k < size; k++) s += p[(long long) k * inner];
        out[j] = s * scale;
    }
}

// sum_to_shape in double: one thread per dst element, its src elements summed in src order (Binary.sumToDouble's bits)
extern "C" __global__ void sum_to_shape_f64(const double* __restrict__ src, double* __restrict__ dst, const int* __restrict__ meta, int ndim,
                                            long long m) {
    const int* src_shape = meta;
    const int* dst_shape = meta + ndim;
    long long count = 1;
    for (int d = 0; d < ndim; d++) if (dst_shape[d] == 1) count *= src_shape[d];
    for (long long j = blockIdx.x * (long long) blockDim.x + threadIdx.x; j < m; j += (long long) blockDim.x * gridDim.x) {
        long long base = 0, stride = 1, rest = j;
        for (int d = ndim - 1; d >= 0; d--) {
            if (dst_shape[d] != 1) {
                base += (rest % dst_shape[d]) * stride;
                rest /= dst_shape[d];
            }
            stride *= src_shape[d];
        }
        double s = 0.0;
        for (long long r = 0; r < count; r++) {
            long long off = base, st = 1, q = r;
            for (int d = ndim - 1; d >= 0; d--) {
                if (dst_shape[d] == 1) {
                    off += (q % src_shape[d]) * st;
                    q /= src_shape[d];
                }
                st *= src_shape[d];
            }
            s += src[off];
        }
        dst[j] = s;
    }
}

// ---- max and min (values and int64 indices), along a dimension and over the whole tensor, and their gradient.
// The CPU's rule: NaN wins (PyTorch's max and min propagate NaN), then the larger (max) or smaller (min) value, and
// among equals the first index. That is a strict order on (value, index), so the pick does not depend on the order
// the candidates are compared in: one block's tree gives a scan's answer.

// true when candidate (v, i) beats the best so far (bv, bi); bi < 0 means none yet
__device__ bool extreme_beats(float v, long long i, float bv, long long bi, int is_min) {
    if (bi < 0) return true;
    bool vn = v != v, bn = bv != bv;
    if (vn || bn) return vn && (!bn || i < bi);
    if (v != bv) return is_min ? v < bv : v > bv;
    return i < bi;
}

// values[o, i], indices[o, i] = the extreme of x[o, :, i] for x seen as [outer, size, inner] (size >= 1), and where
// along the middle dimension it is: one thread per output, scanning in order (the CPU's loop)
extern "C" __global__ void extreme_dim(const float* __restrict__ x, float* __restrict__ values, long long* __restrict__ indices, int outer,
                                       int size, int inner, int is_min) {
    long long total = (long long) outer * inner;
    for (long long j = blockIdx.x * (long long) blockDim.x + threadIdx.x; j < total; j += (long long) blockDim.x * gridDim.x) {
        const float* p = x + (j / inner) * (long long) size * inner + j % inner;
        float bv = p[0];
        int best = 0;
        for (int k = 1; k < size; k++) {
            float v = p[(long long) k * inner];
            if (extreme_beats(v, k, bv, best, is_min)) {
                bv = v;
                best = k;
            }
        }
        values[j] = bv;
        indices[j] = best;
    }
}

#define EXTREME_THREADS 256

// value[0], index[0] = the extreme of x's n elements (n >= 1) and its flat index: launch one block of EXTREME_THREADS
extern "C" __global__ void extreme_all(const float* __restrict__ x, float* __restrict__ value, long long* __restrict__ index, long long n,
                                       int is_min) {
    __shared__ float sv[EXTREME_THREADS];
    __shared__ long long si[EXTREME_THREADS];
    float bv = 0.0f;
    long long bi = -1;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) {
        if (extreme_beats(x[i], i, bv, bi, is_min)) {
            bv = x[i];
            bi = i;
        }
    }
    sv[threadIdx.x] = bv;
    si[threadIdx.x] = bi;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k && si[threadIdx.x + k] >= 0 && extreme_beats(sv[threadIdx.x + k], si[threadIdx.x + k], sv[threadIdx.x], si[threadIdx.x], is_min)) {
            sv[threadIdx.x] = sv[threadIdx.x + k];
            si[threadIdx.x] = si[threadIdx.x + k];
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) {
        value[0] = sv[0];
        index[0] = si[0];
    }
}

// dx [outer, size, inner] = g[o, i] where k is the picked index of line (o, i), else 0: the gradient of extreme_dim
// (and of extreme_all with outer = inner = 1). One thread per input element, no atomics; 0 + g as the CPU's +=.
extern "C" __global__ void pick_backward(const float* __restrict__ g, const long long* __restrict__ indices, float* __restrict__ dx, int outer,
                                         int size, int inner) {
    long long total = (long long) outer * size * inner;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) blockDim.x * gridDim.x) {
        long long o = i / ((long long) size * inner);
        long long k = (i / inner) % size;
        long long r = o * inner + i % inner;
        dx[i] = indices[r] == k ? 0.0f + g[r] : 0.0f;
    }
}
