// Kernels over tensors of any element type: dtype conversion, comparisons (bool results), the strided copy behind
// contiguous(), cat and copy_ into a view, and exact integer sums. Each follows the CPU's rules (HostStorage,
// Strided.scatter, Compare), so a tensor converted or compared on a device holds the CPU's bits.
// An element type is a code, the same numbers as ElementType in Java:
#define ET_F64 0
#define ET_F32 1
#define ET_I64 2
#define ET_I32 3
#define ET_I16 4
#define ET_I8 5
#define ET_U8 6
#define ET_BOOL 7

__device__ bool et_floating(int t) {
    return t == ET_F64 || t == ET_F32;
}

// Java's (long) of a double: truncated toward zero, saturating, NaN to 0 (C leaves the out-of-range cases undefined)
__device__ long long java_long(double v) {
    if (v != v) return 0;
    if (v >= 9.2233720368547758e18) return 0x7fffffffffffffffLL;
    if (v <= -9.2233720368547758e18) return (long long) 0x8000000000000000ULL;
    return (long long) v;
}

// Java's (int) of a double
__device__ int java_int(double v) {
    if (v != v) return 0;
    if (v >= 2147483647.0) return 2147483647;
    if (v <= -2147483648.0) return (int) 0x80000000U;
    return (int) v;
}

// element i of p, of type t, as a double (HostStorage.getDouble; bool is 0 or 1)
__device__ double et_get_double(const void* p, int t, long long i) {
    switch (t) {
        case ET_F64: return ((const double*) p)[i];
        case ET_F32: return (double) ((const float*) p)[i];
        case ET_I64: return (double) ((const long long*) p)[i];
        case ET_I32: return (double) ((const int*) p)[i];
        case ET_I16: return (double) ((const short*) p)[i];
        case ET_U8: return (double) ((const unsigned char*) p)[i];
        default: return (double) ((const signed char*) p)[i];  // ET_I8, ET_BOOL
    }
}

// element i as a long long (HostStorage.getLong: a float truncated as Java's (long))
__device__ long long et_get_long(const void* p, int t, long long i) {
    switch (t) {
        case ET_I64: return ((const long long*) p)[i];
        case ET_I32: return ((const int*) p)[i];
        case ET_I16: return ((const short*) p)[i];
        case ET_U8: return ((const unsigned char*) p)[i];
        case ET_I8:
        case ET_BOOL: return ((const signed char*) p)[i];
        default: return java_long(et_get_double(p, t, i));
    }
}

// HostStorage.setLong: integers narrow by wrapping, bool is v != 0, floats take (double) v
__device__ void et_set_long(void* p, int t, long long i, long long v) {
    switch (t) {
        case ET_I64: ((long long*) p)[i] = v; break;
        case ET_I32: ((int*) p)[i] = (int) (unsigned int) (unsigned long long) v; break;
        case ET_I16: ((short*) p)[i] = (short) (unsigned short) (unsigned long long) v; break;
        case ET_I8:
        case ET_U8: ((unsigned char*) p)[i] = (unsigned char) (unsigned long long) v; break;
        case ET_BOOL: ((unsigned char*) p)[i] = v != 0 ? 1 : 0; break;
        case ET_F64: ((double*) p)[i] = (double) v; break;
        default: ((float*) p)[i] = (float) (double) v; break;  // ET_F32: through double, as the CPU
    }
}

// HostStorage.setDouble: floats round, bool is v != 0 (NaN is true), integers take Java's (long) v
__device__ void et_set_double(void* p, int t, long long i, double v) {
    switch (t) {
        case ET_F64: ((double*) p)[i] = v; break;
        case ET_F32: ((float*) p)[i] = (float) v; break;
        case ET_BOOL: ((unsigned char*) p)[i] = v != 0.0 ? 1 : 0; break;
        default: et_set_long(p, t, i, java_long(v)); break;
    }
}

// dst[j] = src[i] converted as the CPU's copy_ (Strided.scatter): integer to integer through long, float to a
// non-bool integer truncated (int64 as Java's (long), narrower types through Java's (int)), the rest through double
__device__ void et_convert(const void* src, int st, long long i, void* dst, int dt, long long j) {
    bool sf = et_floating(st), df = et_floating(dt);
    if (!sf && !df) {
        et_set_long(dst, dt, j, et_get_long(src, st, i));
    } else if (sf && !df && dt != ET_BOOL) {
        double v = et_get_double(src, st, i);
        et_set_long(dst, dt, j, dt == ET_I64 ? java_long(v) : (long long) java_int(v));
    } else {
        et_set_double(dst, dt, j, et_get_double(src, st, i));
    }
}

// dst = src converted from src_type to dst_type, n elements of each, row-major
extern "C" __global__ void convert_dtype(const void* __restrict__ src, int src_type, void* __restrict__ dst, int dst_type, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        et_convert(src, src_type, i, dst, dst_type, i);
    }
}

// Copies n elements of elem_bytes bytes between two strided layouts of one shape: meta holds the shape, then the
// source's strides, then the destination's (ndim each, in elements; a stride may be 0 for a broadcast source).
// src and dst start at their tensors' first elements. Behind contiguous() of a view (the gather: dst row-major),
// cat (dst a slice of the output) and copy_ into a view. No __restrict__: the host never passes overlapping ranges
// (it gathers an overlapping source first), but the two may share an allocation.
extern "C" __global__ void strided_copy(const void* src, void* dst, const int* __restrict__ meta, int ndim, int elem_bytes, long long n) {
    const int* shape = meta;
    const int* ss = meta + ndim;
    const int* ds = meta + 2 * ndim;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        long long rest = i, si = 0, di = 0;
        for (int d = ndim - 1; d >= 0; d--) {
            long long c = rest % shape[d];
            rest /= shape[d];
            si += c * ss[d];
            di += c * ds[d];
        }
        switch (elem_bytes) {
            case 8: ((unsigned long long*) dst)[di] = ((const unsigned long long*) src)[si]; break;
            case 4: ((unsigned int*) dst)[di] = ((const unsigned int*) src)[si]; break;
            case 2: ((unsigned short*) dst)[di] = ((const unsigned short*) src)[si]; break;
            default: ((unsigned char*) dst)[di] = ((const unsigned char*) src)[si]; break;
        }
    }
}

// ---- comparisons: bool results (one byte, 0 or 1), in the operands' promoted type as the CPU's Compare: as doubles
// when that type is floating (NaN unequal to everything, neither below nor above anything), else as long longs
#define CMP_EQ 0
#define CMP_NE 1
#define CMP_LT 2
#define CMP_LE 3
#define CMP_GT 4
#define CMP_GE 5

__device__ unsigned char cmp_test(int op, int c) {
    switch (op) {
        case CMP_EQ: return c == 0;
        case CMP_NE: return c != 0;
        case CMP_LT: return c < 0;
        case CMP_LE: return c <= 0;
        case CMP_GT: return c > 0;
        default: return c >= 0;
    }
}

__device__ unsigned char cmp_doubles(int op, double u, double v) {
    if (u != u || v != v) return op == CMP_NE;
    return cmp_test(op, u == v ? 0 : u < v ? -1 : 1);
}

__device__ unsigned char cmp_longs(int op, long long u, long long v) {
    return cmp_test(op, u == v ? 0 : u < v ? -1 : 1);
}

// out = a op b with a and b broadcast to out's shape: meta holds out's shape, then a's and b's strides (ndim each)
extern "C" __global__ void compare_broadcast(const void* __restrict__ a, int a_type, const void* __restrict__ b, int b_type,
                                             unsigned char* __restrict__ out, const int* __restrict__ meta, int ndim, int op, int as_double,
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
        out[i] = as_double ? cmp_doubles(op, et_get_double(a, a_type, ia), et_get_double(b, b_type, ib))
                           : cmp_longs(op, et_get_long(a, a_type, ia), et_get_long(b, b_type, ib));
    }
}

// out = a op c for a scalar c (a Java or 0-dim cpu operand, passed by value: no copy, no wait), as a double or a long
extern "C" __global__ void compare_scalar(const void* __restrict__ a, int a_type, unsigned char* __restrict__ out, double c, long long c_long,
                                          int op, int as_double, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        out[i] = as_double ? cmp_doubles(op, et_get_double(a, a_type, i), c) : cmp_longs(op, et_get_long(a, a_type, i), c_long);
    }
}

// ---- exact sums of integer and bool tensors, to int64 (wrapping, as PyTorch's sum): any order gives the same bits

#define INT_SUM_THREADS 256

// out[0] = the sum of x's n elements: launch one block of INT_SUM_THREADS threads
extern "C" __global__ void sum_all_i64(const void* __restrict__ x, int x_type, long long* __restrict__ out, long long n) {
    __shared__ unsigned long long shared[INT_SUM_THREADS];
    unsigned long long s = 0;
    for (long long i = threadIdx.x; i < n; i += blockDim.x) s += (unsigned long long) et_get_long(x, x_type, i);
    shared[threadIdx.x] = s;
    __syncthreads();
    for (int k = blockDim.x / 2; k > 0; k >>= 1) {
        if (threadIdx.x < k) shared[threadIdx.x] += shared[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[0] = (long long) shared[0];
}

// out[o, i] = sum over k of x[o, k, i] for x seen as [outer, size, inner]: one thread per output
extern "C" __global__ void sum_dim_i64(const void* __restrict__ x, int x_type, long long* __restrict__ out, int outer, int size, int inner) {
    long long total = (long long) outer * inner;
    for (long long j = blockIdx.x * (long long) blockDim.x + threadIdx.x; j < total; j += (long long) blockDim.x * gridDim.x) {
        long long base = (j / inner) * (long long) size * inner + j % inner;
        unsigned long long s = 0;
        for (int k = 0; k < size; k++) s += (unsigned long long) et_get_long(x, x_type, base + (long long) k * inner);
        out[j] = (long long) s;
    }
}

// x += c over n int64 elements, wrapping (a counter such as batch norm's num_batches_tracked, kept on the device)
extern "C" __global__ void add_i64(long long* __restrict__ x, long long c, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        x[i] = (long long) ((unsigned long long) x[i] + (unsigned long long) c);
    }
}
