// Row and column reductions: argmax over classes, and column sums (bias gradients).

// idx[r] = the first index of the largest value in row r of an n x c matrix (NaN wins, as in PyTorch)
extern "C" __global__ void argmax_rows(const float* __restrict__ x, long long* __restrict__ idx, int n, int c) {
    for (int r = blockIdx.x * blockDim.x + threadIdx.x; r < n; r += blockDim.x * gridDim.x) {
        const float* row = x + (long long) r * c;
        int best = 0;
        float bv = row[0];
        for (int k = 1; k < c; k++) {
            float v = row[k];
            if (v > bv || (isnan(v) && !isnan(bv))) {
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
