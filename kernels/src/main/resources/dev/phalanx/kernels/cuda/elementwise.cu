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
