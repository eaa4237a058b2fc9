// Elementwise kernels for float32 tensors. Grid-stride loops: any launch size covers any n.
// Compiled at run time with NVRTC for the GPU present; CI compiles this file with nvcc.

extern "C" __global__ void add_f32(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ out, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        out[i] = a[i] + b[i];
    }
}

extern "C" __global__ void mul_f32(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ out, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        out[i] = a[i] * b[i];
    }
}

extern "C" __global__ void scale_f32(float* __restrict__ x, float s, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        x[i] *= s;
    }
}

// x *= s[0], a scale that lives on the device (an upstream gradient), read without a host synchronisation.
extern "C" __global__ void scale_by_f32(float* __restrict__ x, const float* __restrict__ s, long long n) {
    const float k = s[0];
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        x[i] *= k;
    }
}

extern "C" __global__ void fill_f32(float* __restrict__ x, float value, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        x[i] = value;
    }
}

// y = max(x, 0)
extern "C" __global__ void relu_forward(const float* __restrict__ x, float* __restrict__ y, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        y[i] = fmaxf(x[i], 0.0f);
    }
}

// dx = g where y > 0, else 0 (the gradient stops where ReLU's output is 0, as PyTorch's threshold_backward)
extern "C" __global__ void relu_backward(const float* __restrict__ y, const float* __restrict__ g, float* __restrict__ dx, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        dx[i] = y[i] > 0.0f ? g[i] : 0.0f;
    }
}

// out[r, c] = x[r, c] + bias[c] for a rows x cols matrix (Linear's bias after the cuBLAS GEMM)
extern "C" __global__ void add_bias_rows(float* __restrict__ x, const float* __restrict__ bias, long long rows, int cols) {
    long long n = rows * cols;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        x[i] += bias[i % cols];
    }
}

// y += a * x (gradient accumulation, and the device-side all-reduce's sum with a = 1)
extern "C" __global__ void axpy_f32(const float* __restrict__ x, float* __restrict__ y, float a, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        y[i] += a * x[i];
    }
}

// x[img, ch, :] += bias[ch] for NCHW images of `plane` pixels (Conv2d's bias after cuDNN)
extern "C" __global__ void add_bias_nchw(float* __restrict__ x, const float* __restrict__ bias, long long total, int channels, int plane) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < total; i += (long long) blockDim.x * gridDim.x) {
        x[i] += bias[(i / plane) % channels];
    }
}

// ---- unary functions of a tensor, chosen by code (DeviceLayers' table names the same codes)
#define UNARY_NEG 0
#define UNARY_EXP 1
#define UNARY_LOG 2
#define UNARY_SQRT 3
#define UNARY_ABS 4
#define UNARY_SIN 5
#define UNARY_COS 6
#define UNARY_ASIN 7
#define UNARY_TANH 8
#define UNARY_SIGMOID 9

__device__ float unary_value(int op, float x) {
    switch (op) {
        case UNARY_NEG: return -x;
        case UNARY_EXP: return expf(x);
        case UNARY_LOG: return logf(x);
        case UNARY_SQRT: return sqrtf(x);
        case UNARY_ABS: return fabsf(x);
        case UNARY_SIN: return sinf(x);
        case UNARY_COS: return cosf(x);
        case UNARY_ASIN: return asinf(x);
        case UNARY_TANH: return tanhf(x);
        case UNARY_SIGMOID: return 1.0f / (1.0f + expf(-x));
        default: return NAN;  // the host never sends another code
    }
}

// d y / d x at x, with y the forward's output (PyTorch's formulas: exp' = y, tanh' = 1 - y^2, ...)
__device__ float unary_derivative(int op, float x, float y) {
    switch (op) {
        case UNARY_NEG: return -1.0f;
        case UNARY_EXP: return y;
        case UNARY_LOG: return 1.0f / x;
        case UNARY_SQRT: return 0.5f / y;
        case UNARY_ABS: return (float) ((x > 0.0f) - (x < 0.0f));
        case UNARY_SIN: return cosf(x);
        case UNARY_COS: return -sinf(x);
        case UNARY_ASIN: return 1.0f / sqrtf(1.0f - x * x);
        case UNARY_TANH: return 1.0f - y * y;
        case UNARY_SIGMOID: return y * (1.0f - y);
        default: return NAN;
    }
}

// y = f(x) for the function coded op
extern "C" __global__ void unary_forward(const float* __restrict__ x, float* __restrict__ y, int op, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        y[i] = unary_value(op, x[i]);
    }
}

// dx = g * f'(x), given x and the forward's output y
extern "C" __global__ void unary_backward(const float* __restrict__ x, const float* __restrict__ y, const float* __restrict__ g,
                                          float* __restrict__ dx, int op, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        dx[i] = g[i] * unary_derivative(op, x[i], y[i]);
    }
}

// ---- a tensor and a constant c: x + c, x * c, x ^ c, c - x (codes in DeviceLayers' table); scalar_forward has
// no __restrict__: add_(c) passes y == x
#define SCALAR_ADD 0
#define SCALAR_MUL 1
#define SCALAR_POW 2
#define SCALAR_RSUB 3

extern "C" __global__ void scalar_forward(const float* x, float* y, float c, int op, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        float v = x[i];
        y[i] = op == SCALAR_ADD ? v + c : op == SCALAR_MUL ? v * c : op == SCALAR_POW ? (c == 2.0f ? v * v : powf(v, c)) : c - v;
    }
}

// dx = g * d(x op c)/dx
extern "C" __global__ void scalar_backward(const float* __restrict__ x, const float* __restrict__ g, float* __restrict__ dx, float c, int op,
                                           long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        float v = x[i];
        float d = op == SCALAR_ADD ? 1.0f : op == SCALAR_MUL ? c : op == SCALAR_POW ? (c == 2.0f ? 2.0f * v : c * powf(v, c - 1.0f)) : -1.0f;
        dx[i] = g[i] * d;
    }
}

// ---- a op b for two tensors, op 0 add, 1 sub, 2 mul, 3 div (codes in DeviceLayers' table). No __restrict__:
// the in-place forms (a += b) pass out == a, each element read before it is written by the same thread.
#define BINARY_ADD 0
#define BINARY_SUB 1
#define BINARY_MUL 2
#define BINARY_DIV 3

__device__ float binary_value(int op, float x, float y) {
    return op == BINARY_ADD ? x + y : op == BINARY_SUB ? x - y : op == BINARY_MUL ? x * y : x / y;
}

// out = a op b, all of n elements (one shape)
extern "C" __global__ void binary_same(const float* a, const float* b, float* out, int op, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        out[i] = binary_value(op, a[i], b[i]);
    }
}

// out = a op b broadcast to out's shape: meta holds out's shape, then a's and b's strides in it (0 along a
// broadcast dimension), ndim each; out is row-major, n elements
extern "C" __global__ void binary_broadcast(const float* a, const float* b, float* out, const int* __restrict__ meta, int ndim, int op,
                                            long long n) {
    const int* shape = meta;
    const int* sa = meta + ndim;
    const int* sb = meta + 2 * ndim;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        long long rest = i, ia = 0, ib = 0;
        for (int d = ndim - 1; d >= 0; d--) {
            long long c = rest % shape[d];
            rest /= shape[d];
            ia += c * sa[d];
            ib += c * sb[d];
        }
        out[i] = binary_value(op, a[ia], b[ib]);
    }
}
