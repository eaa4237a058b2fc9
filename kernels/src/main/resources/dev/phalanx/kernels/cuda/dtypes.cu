// Kernels over tensors of any element type: dtype conversion, comparisons (bool results), the strided copy behind
// contiguous(), cat and copy_ into a view, exact integer sums, and the arithmetic of every dtype but float32 pairs
// (elementwise.cu's). Each follows the CPU's rules (HostStorage, Strided.scatter, Compare, Binary.mixed,
// Pointwise), so a tensor converted, compared or computed on a device holds the CPU's bits.
// An element type is a code, the same numbers as ElementType in Java:
#define ET_F64 0
#define ET_F32 1
#define ET_I64 2
#define ET_I32 3
#define ET_I16 4
#define ET_I8 5
#define ET_U8 6
#define ET_BOOL 7
#define ET_F16 8
#define ET_BF16 9

__device__ bool et_floating(int t) {
    return t == ET_F64 || t == ET_F32 || t == ET_F16 || t == ET_BF16;
}

// ---- float16 and bfloat16 bits to and from float, rounding to nearest even: HalfFloats' code, bit for bit (NaN
// keeps a quiet payload in float16, becomes 0x7fc0 in bfloat16), without cuda_fp16.h (its NaN rules differ)

__device__ float et_half_to_float(unsigned short bits) {
    unsigned int h = bits;
    unsigned int sign = (h & 0x8000u) << 16, ex = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (ex == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (mant << 13));  // inf, nan
    if (ex == 0u) {  // zero or subnormal: mant * 2^-24, exact
        float v = (float) mant * 5.9604644775390625e-8f;
        return sign != 0u ? -v : v;
    }
    return __uint_as_float(sign | ((ex + 112u) << 23) | (mant << 13));
}

__device__ unsigned short et_float_to_half(float f) {
    unsigned int bits = __float_as_uint(f);
    unsigned int sign = (bits >> 16) & 0x8000u;
    unsigned int mag = bits & 0x7fffffffu;
    if (mag >= 0x7f800000u) return (unsigned short) (sign | 0x7c00u | (mag > 0x7f800000u ? 0x200u | ((mag >> 13) & 0x3ffu) : 0u));
    if (mag >= 0x477ff000u) return (unsigned short) (sign | 0x7c00u);  // rounds to >= 65520: overflow to inf
    unsigned int ex = mag >> 23;
    if (ex < 113u) {  // below the smallest normal half: subnormal or zero
        if (ex < 102u) return (unsigned short) sign;
        unsigned int mant = (mag & 0x7fffffu) | 0x800000u;
        unsigned int shift = 126u - ex;  // brings mant to units of 2^-24
        unsigned int h16 = mant >> shift;
        unsigned int rest = mant & ((1u << shift) - 1u), halfway = 1u << (shift - 1u);
        if (rest > halfway || (rest == halfway && (h16 & 1u) != 0u)) h16++;
        return (unsigned short) (sign | h16);
    }
    unsigned int mant = mag & 0x7fffffu;
    unsigned int h16 = ((ex - 112u) << 10) | (mant >> 13);
    unsigned int rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h16 & 1u) != 0u)) h16++;  // may carry into the exponent: correct
    return (unsigned short) (sign | h16);
}

__device__ float et_bf16_to_float(unsigned short bits) {
    return __uint_as_float(((unsigned int) bits) << 16);
}

__device__ unsigned short et_float_to_bf16(float f) {
    if (f != f) return 0x7fc0;
    unsigned int bits = __float_as_uint(f);
    unsigned int rounding = 0x7fffu + ((bits >> 16) & 1u);
    return (unsigned short) ((bits + rounding) >> 16);
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
        case ET_F16: return (double) et_half_to_float(((const unsigned short*) p)[i]);
        case ET_BF16: return (double) et_bf16_to_float(((const unsigned short*) p)[i]);
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
        case ET_F16: ((unsigned short*) p)[i] = et_float_to_half((float) (double) v); break;
        case ET_BF16: ((unsigned short*) p)[i] = et_float_to_bf16((float) (double) v); break;
        default: ((float*) p)[i] = (float) (double) v; break;  // ET_F32: through double, as the CPU
    }
}

// HostStorage.setDouble: floats round, bool is v != 0 (NaN is true), integers take Java's (long) v
__device__ void et_set_double(void* p, int t, long long i, double v) {
    switch (t) {
        case ET_F64: ((double*) p)[i] = v; break;
        case ET_F32: ((float*) p)[i] = (float) v; break;
        case ET_F16: ((unsigned short*) p)[i] = et_float_to_half((float) v); break;  // through float, as the CPU
        case ET_BF16: ((unsigned short*) p)[i] = et_float_to_bf16((float) v); break;
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

// ---- arithmetic of any element types, as the CPU's Binary.mixed and Pointwise: the host picks the mode from the
// result type (float32 pairs keep elementwise.cu's kernels). MODE_DOUBLE: a float64 result, each operand read as a
// double; MODE_FLOAT: a float32, float16 or bfloat16 result, each operand read as a float, the float result rounded
// once into the result type; MODE_LONG: an integer or bool result, in long long, wrapping (unsigned arithmetic: C's
// signed overflow is undefined), narrowed into the result type. One operation per element: nothing nvcc could
// contract into an FMA, so a GPU gives the CPU's bits for + - * / (IEEE division, no fast math).
#define MODE_DOUBLE 0
#define MODE_FLOAT 1
#define MODE_LONG 2

// op codes: the same numbers as elementwise.cu's BINARY_* and SCALAR_* (this file compiles on its own too)
#define TYPED_ADD 0
#define TYPED_SUB 1
#define TYPED_MUL 2
#define TYPED_DIV 3

__device__ double typed_double(int op, double x, double y) {
    return op == TYPED_ADD ? x + y : op == TYPED_SUB ? x - y : op == TYPED_MUL ? x * y : x / y;
}

__device__ float typed_float(int op, float x, float y) {
    return op == TYPED_ADD ? x + y : op == TYPED_SUB ? x - y : op == TYPED_MUL ? x * y : x / y;
}

// Binary.Fn.l: on bool, add is "or" and mul is "and"; division never runs in integers (it is true division)
__device__ long long typed_long(int op, long long x, long long y, int is_bool) {
    unsigned long long u = (unsigned long long) x, v = (unsigned long long) y;
    if (op == TYPED_ADD) return (long long) (is_bool ? (u | v) : u + v);
    if (op == TYPED_SUB) return (long long) (u - v);
    return (long long) (is_bool ? (u & v) : u * v);
}

// out = a op b (op 0 add, 1 sub, 2 mul, 3 div) with a and b broadcast to out's shape: meta holds out's shape, then a's
// and b's strides in it (ndim each); ndim 0 when a, b and out have one shape (meta then unread; the host passes a).
// out is row-major.
extern "C" __global__ void binary_typed(const void* a, int a_type, const void* b, int b_type, void* out, int out_type,
                                        const int* __restrict__ meta, int ndim, int op, int mode, long long n) {
    const int* shape = meta;
    const int* sa = meta + ndim;
    const int* sb = meta + 2 * ndim;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        long long ia = i, ib = i;
        if (ndim > 0) {
            long long rest = i;
            ia = 0;
            ib = 0;
            for (int d = ndim - 1; d >= 0; d--) {
                long long c = rest % shape[d];
                rest /= shape[d];
                ia += c * sa[d];
                ib += c * sb[d];
            }
        }
        if (mode == MODE_DOUBLE) {
            et_set_double(out, out_type, i, typed_double(op, et_get_double(a, a_type, ia), et_get_double(b, b_type, ib)));
        } else if (mode == MODE_FLOAT) {
            float r = typed_float(op, (float) et_get_double(a, a_type, ia), (float) et_get_double(b, b_type, ib));
            et_set_double(out, out_type, i, (double) r);
        } else {
            et_set_long(out, out_type, i, typed_long(op, et_get_long(a, a_type, ia), et_get_long(b, b_type, ib), out_type == ET_BOOL));
        }
    }
}

// x^c in long long for c >= 0 (the host refuses negative powers), by squaring: multiplication modulo 2^64 is
// associative, so this wraps to the bits of the CPU's c repeated multiplications
__device__ long long typed_pow_long(long long x, long long c) {
    unsigned long long r = 1, base = (unsigned long long) x;
    for (unsigned long long e = (unsigned long long) c; e != 0; e >>= 1) {
        if (e & 1) r *= base;
        base *= base;
    }
    return (long long) r;
}

// y = x op c for a constant (op 0 add, 1 mul, 2 pow, 3 rsub: c - x), as Pointwise.Scalar: c as a double (MODE_DOUBLE),
// as (float) c (MODE_FLOAT) or as c_long (MODE_LONG); pow of 2 is x * x, any other power goes through double pow
extern "C" __global__ void scalar_typed(const void* x, int x_type, void* y, int y_type, double c, long long c_long, int op, int mode,
                                        long long n) {
    const float cf = (float) c;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        if (mode == MODE_DOUBLE) {
            double v = et_get_double(x, x_type, i);
            double r = op == 0 ? v + c : op == 1 ? v * c : op == 2 ? (c == 2.0 ? v * v : pow(v, c)) : c - v;
            et_set_double(y, y_type, i, r);
        } else if (mode == MODE_FLOAT) {
            float v = (float) et_get_double(x, x_type, i);
            float r = op == 0 ? v + cf : op == 1 ? v * cf : op == 2 ? (cf == 2.0f ? v * v : (float) pow((double) v, (double) cf)) : cf - v;
            et_set_double(y, y_type, i, (double) r);
        } else {
            unsigned long long v = (unsigned long long) et_get_long(x, x_type, i), k = (unsigned long long) c_long;
            long long r = op == 0 ? (long long) (v + k) : op == 1 ? (long long) (v * k) : op == 2 ? typed_pow_long((long long) v, c_long)
                                                                                            : (long long) (k - v);
            et_set_long(y, y_type, i, r);
        }
    }
}

// The unary functions, in double (elementwise.cu's UNARY_* codes, and 10 for relu), as Pointwise.Unary.f
__device__ double typed_unary(int op, double x) {
    switch (op) {
        case 0: return -x;
        case 1: return exp(x);
        case 2: return log(x);
        case 3: return sqrt(x);
        case 4: return fabs(x);
        case 5: return sin(x);
        case 6: return cos(x);
        case 7: return asin(x);
        case 8: return tanh(x);
        case 9: return 1.0 / (1.0 + exp(-x));
        case 10: return x > 0.0 ? x : 0.0;
        default: return (double) NAN;  // the host never sends another code
    }
}

// Pointwise.Unary.df, given x and the forward's output y (__dmul_rn where an FMA could form)
__device__ double typed_unary_derivative(int op, double x, double y) {
    switch (op) {
        case 0: return -1.0;
        case 1: return y;
        case 2: return 1.0 / x;
        case 3: return 0.5 / y;
        case 4: return x > 0.0 ? 1.0 : x < 0.0 ? -1.0 : x;  // Math.signum: zeros and NaN are their own sign
        case 5: return cos(x);
        case 6: return -sin(x);
        case 7: return 1.0 / sqrt(1.0 - __dmul_rn(x, x));
        case 8: return 1.0 - __dmul_rn(y, y);
        case 9: return y * (1.0 - y);
        case 10: return y > 0.0 ? 1.0 : 0.0;
        default: return (double) NAN;
    }
}

// y = f(x): MODE_DOUBLE for float64 (in double), MODE_FLOAT for float16 and bfloat16 ((float) f((double) x), rounded
// into y's type), MODE_LONG for integers (neg, abs, relu only, wrapping: the host converts integers to float32 for the
// others)
extern "C" __global__ void unary_typed(const void* x, int x_type, void* y, int y_type, int op, int mode, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        if (mode == MODE_LONG) {
            unsigned long long v = (unsigned long long) et_get_long(x, x_type, i);
            long long s = (long long) v;
            long long r = op == 0 ? (long long) (0ULL - v) : op == 4 ? (s < 0 ? (long long) (0ULL - v) : s) : (s > 0 ? s : 0);
            et_set_long(y, y_type, i, r);
        } else if (mode == MODE_FLOAT) {
            et_set_double(y, y_type, i, (double) (float) typed_unary(op, (double) (float) et_get_double(x, x_type, i)));
        } else {
            et_set_double(y, y_type, i, typed_unary(op, et_get_double(x, x_type, i)));
        }
    }
}

// dx = g * f'(x) in double, given x and the forward's output y, all float64 (the host converts a float16 node's)
extern "C" __global__ void unary_backward_f64(const double* __restrict__ x, const double* __restrict__ y, const double* __restrict__ g,
                                              double* __restrict__ dx, int op, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        dx[i] = g[i] * typed_unary_derivative(op, x[i], y[i]);
    }
}

// dx = g * d(x op c)/dx in double, all float64 (Pointwise.Scalar.df)
extern "C" __global__ void scalar_backward_f64(const double* __restrict__ x, const double* __restrict__ g, double* __restrict__ dx, double c,
                                               int op, long long n) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) blockDim.x * gridDim.x) {
        double d = op == 0 ? 1.0 : op == 1 ? c : op == 2 ? (c == 2.0 ? 2.0 * x[i] : c * pow(x[i], c - 1.0)) : -1.0;
        dx[i] = g[i] * d;
    }
}
