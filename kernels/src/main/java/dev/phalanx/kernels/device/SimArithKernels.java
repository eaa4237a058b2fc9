package dev.phalanx.kernels.device;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;

/**
 * The simulated device's twins of dtypes.cu's arithmetic of any element type ({@code binary_typed},
 * {@code scalar_typed}, {@code unary_typed} and the float64 backward kernels) and of reductions.cu's
 * float64 sums: the CUDA code's operations in its order (the whole-tensor sum as the block's tree),
 * elements read and written through {@link SimTensorKernels}' element access. Part of
 * {@link SimKernels#TWINS}.
 */
final class SimArithKernels {

    /** dtypes.cu's MODE_*. */
    static final int MODE_DOUBLE = 0, MODE_FLOAT = 1, MODE_LONG = 2;

    private SimArithKernels() { }

    static final Map<String, SimKernels.Twin> TWINS = Map.ofEntries(
            Map.entry("binary_typed", (m, c, a) -> {
                ElementType ta = ElementType.ofCode(a.int32(1)), tb = ElementType.ofCode(a.int32(3)), to = ElementType.ofCode(a.int32(5));
                int ndim = a.int32(7), op = a.int32(8), mode = a.int32(9);
                long n = a.int64(10);
                int[] meta = ndim > 0 ? m.ints(a.buffer(6), 3L * ndim) : new int[0];
                ByteBuffer x = wrap(m.rawBytes(a.buffer(0), extent(meta, ndim, 1, n) * ta.bytes()));
                ByteBuffer y = wrap(m.rawBytes(a.buffer(2), extent(meta, ndim, 2, n) * tb.bytes()));
                ByteBuffer out = ByteBuffer.allocate((int) (n * to.bytes())).order(ByteOrder.LITTLE_ENDIAN);
                for (long i = 0; i < n; i++) {
                    long ia = i, ib = i;
                    if (ndim > 0) {
                        long rest = i;
                        ia = 0;
                        ib = 0;
                        for (int d = ndim - 1; d >= 0; d--) {
                            long k = rest % meta[d];
                            rest /= meta[d];
                            ia += k * meta[ndim + d];
                            ib += k * meta[2 * ndim + d];
                        }
                    }
                    switch (mode) {
                        case MODE_DOUBLE -> SimTensorKernels.setDouble(out, to, i,
                                binaryDouble(op, SimTensorKernels.getDouble(x, ta, ia), SimTensorKernels.getDouble(y, tb, ib)));
                        case MODE_FLOAT -> SimTensorKernels.setDouble(out, to, i,
                                binaryFloat(op, (float) SimTensorKernels.getDouble(x, ta, ia), (float) SimTensorKernels.getDouble(y, tb, ib)));
                        case MODE_LONG -> SimTensorKernels.setLong(out, to, i,
                                binaryLong(op, SimTensorKernels.getLong(x, ta, ia), SimTensorKernels.getLong(y, tb, ib), to == ElementType.BOOL));
                        default -> throw badCode("binary_typed", "mode", mode);
                    }
                }
                m.putRawBytes(a.buffer(4), out.array());
            }),
            Map.entry("scalar_typed", (m, c, a) -> {
                ElementType tx = ElementType.ofCode(a.int32(1)), ty = ElementType.ofCode(a.int32(3));
                double k = a.float64(4);
                long kl = a.int64(5);
                int op = a.int32(6), mode = a.int32(7);
                long n = a.int64(8);
                float kf = (float) k;
                ByteBuffer x = wrap(m.rawBytes(a.buffer(0), n * tx.bytes()));
                ByteBuffer out = ByteBuffer.allocate((int) (n * ty.bytes())).order(ByteOrder.LITTLE_ENDIAN);
                for (long i = 0; i < n; i++) {
                    switch (mode) {
                        case MODE_DOUBLE -> {
                            double v = SimTensorKernels.getDouble(x, tx, i);
                            double r = switch (op) {
                                case 0 -> v + k;
                                case 1 -> v * k;
                                case 2 -> k == 2 ? v * v : Math.pow(v, k);
                                case 3 -> k - v;
                                default -> throw badCode("scalar_typed", "op", op);
                            };
                            SimTensorKernels.setDouble(out, ty, i, r);
                        }
                        case MODE_FLOAT -> {
                            float v = (float) SimTensorKernels.getDouble(x, tx, i);
                            float r = switch (op) {
                                case 0 -> v + kf;
                                case 1 -> v * kf;
                                case 2 -> kf == 2f ? v * v : (float) Math.pow(v, kf);
                                case 3 -> kf - v;
                                default -> throw badCode("scalar_typed", "op", op);
                            };
                            SimTensorKernels.setDouble(out, ty, i, r);
                        }
                        case MODE_LONG -> {
                            long v = SimTensorKernels.getLong(x, tx, i);
                            long r = switch (op) {
                                case 0 -> v + kl;
                                case 1 -> v * kl;
                                case 2 -> powLong(v, kl);
                                case 3 -> kl - v;
                                default -> throw badCode("scalar_typed", "op", op);
                            };
                            SimTensorKernels.setLong(out, ty, i, r);
                        }
                        default -> throw badCode("scalar_typed", "mode", mode);
                    }
                }
                m.putRawBytes(a.buffer(2), out.array());
            }),
            Map.entry("unary_typed", (m, c, a) -> {
                ElementType tx = ElementType.ofCode(a.int32(1)), ty = ElementType.ofCode(a.int32(3));
                int op = a.int32(4), mode = a.int32(5);
                long n = a.int64(6);
                ByteBuffer x = wrap(m.rawBytes(a.buffer(0), n * tx.bytes()));
                ByteBuffer out = ByteBuffer.allocate((int) (n * ty.bytes())).order(ByteOrder.LITTLE_ENDIAN);
                for (long i = 0; i < n; i++) {
                    switch (mode) {
                        case MODE_LONG -> {
                            long v = SimTensorKernels.getLong(x, tx, i);
                            long r = switch (op) {
                                case 0 -> -v;
                                case 4 -> Math.abs(v);
                                case 10 -> Math.max(v, 0);
                                default -> throw badCode("unary_typed on integers", "op", op);
                            };
                            SimTensorKernels.setLong(out, ty, i, r);
                        }
                        case MODE_FLOAT -> SimTensorKernels.setDouble(out, ty, i, (float) unary(op, (float) SimTensorKernels.getDouble(x, tx, i)));
                        case MODE_DOUBLE -> SimTensorKernels.setDouble(out, ty, i, unary(op, SimTensorKernels.getDouble(x, tx, i)));
                        default -> throw badCode("unary_typed", "mode", mode);
                    }
                }
                m.putRawBytes(a.buffer(2), out.array());
            }),
            Map.entry("unary_backward_f64", (m, c, a) -> {
                int op = a.int32(4);
                long n = a.int64(5);
                double[] x = m.doubles(a.buffer(0), n), y = m.doubles(a.buffer(1), n), g = m.doubles(a.buffer(2), n), dx = new double[(int) n];
                for (int i = 0; i < n; i++) dx[i] = g[i] * unaryDerivative(op, x[i], y[i]);
                m.putDoubles(a.buffer(3), dx);
            }),
            Map.entry("scalar_backward_f64", (m, c, a) -> {
                double k = a.float64(3);
                int op = a.int32(4);
                long n = a.int64(5);
                double[] x = m.doubles(a.buffer(0), n), g = m.doubles(a.buffer(1), n), dx = new double[(int) n];
                for (int i = 0; i < n; i++) {
                    double d = switch (op) {
                        case 0 -> 1;
                        case 1 -> k;
                        case 2 -> k == 2 ? 2 * x[i] : k * Math.pow(x[i], k - 1);
                        case 3 -> -1;
                        default -> throw badCode("scalar_backward_f64", "op", op);
                    };
                    dx[i] = g[i] * d;
                }
                m.putDoubles(a.buffer(2), dx);
            }),
            Map.entry("sum_all_f64", (m, c, a) -> {
                int threads = LaunchConfig.SUM_THREADS;
                if (c.gridX() * c.gridY() * c.gridZ() != 1 || c.blockX() != threads) {
                    throw new IllegalArgumentException("kernel sum_all_f64 must be launched as one block of " + threads + " threads, got " + c);
                }
                long n = a.int64(2);
                double scale = a.float64(3);
                double[] x = m.doubles(a.buffer(0), n), shared = new double[threads];
                for (int t = 0; t < threads; t++) { // each thread's strided share in order, then the block's tree, as the kernel
                    double s = 0;
                    for (long i = t; i < n; i += threads) s += x[(int) i];
                    shared[t] = s;
                }
                for (int k = threads / 2; k > 0; k >>= 1) {
                    for (int t = 0; t < k; t++) shared[t] += shared[t + k];
                }
                m.putDoubles(a.buffer(1), new double[] {shared[0] * scale});
            }),
            Map.entry("sum_dim_f64", (m, c, a) -> {
                int outer = a.int32(2), size = a.int32(3), inner = a.int32(4);
                double scale = a.float64(5);
                double[] x = m.doubles(a.buffer(0), (long) outer * size * inner), out = new double[outer * inner];
                for (int j = 0; j < out.length; j++) {
                    int base = (j / inner) * size * inner + j % inner;
                    double s = 0;
                    for (int k = 0; k < size; k++) s += x[base + k * inner];
                    out[j] = s * scale;
                }
                m.putDoubles(a.buffer(1), out);
            }),
            Map.entry("sum_to_shape_f64", (m, c, a) -> {
                int ndim = a.int32(3);
                long count = a.int64(4);
                int[] meta = m.ints(a.buffer(2), 2L * ndim);
                int n = 1;
                for (int d = 0; d < ndim; d++) n *= meta[d];
                double[] src = m.doubles(a.buffer(0), n), dst = new double[(int) count];
                int[] idx = new int[ndim]; // every src element added to its dst element in src order: each dst element's own order, as the kernel's
                for (int i = 0; i < n; i++) {
                    int j = 0;
                    for (int d = 0; d < ndim; d++) j = j * meta[ndim + d] + (meta[ndim + d] == 1 ? 0 : idx[d]);
                    dst[j] += src[i];
                    for (int d = ndim - 1; d >= 0 && ++idx[d] == meta[d]; d--) idx[d] = 0;
                }
                m.putDoubles(a.buffer(1), dst);
            }));

    private static ByteBuffer wrap(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** The elements an operand spans for the strides at meta[which * ndim ...], or n when ndim is 0 (one shape); 0 when n is 0. */
    private static long extent(int[] meta, int ndim, int which, long n) {
        if (n == 0) return 0;
        if (ndim == 0) return n;
        long e = 1;
        for (int d = 0; d < ndim; d++) e += (long) (meta[d] - 1) * meta[which * ndim + d];
        return e;
    }

    private static IllegalArgumentException badCode(String kernel, String what, int code) {
        return new IllegalArgumentException("kernel " + kernel + ": no " + what + " has code " + code);
    }

    private static double binaryDouble(int op, double x, double y) {
        return switch (op) {
            case 0 -> x + y;
            case 1 -> x - y;
            case 2 -> x * y;
            case 3 -> x / y;
            default -> throw badCode("binary_typed", "op", op);
        };
    }

    private static float binaryFloat(int op, float x, float y) {
        return switch (op) {
            case 0 -> x + y;
            case 1 -> x - y;
            case 2 -> x * y;
            case 3 -> x / y;
            default -> throw badCode("binary_typed", "op", op);
        };
    }

    private static long binaryLong(int op, long x, long y, boolean bool) {
        return switch (op) {
            case 0 -> bool ? x | y : x + y;
            case 1 -> x - y;
            case 2 -> bool ? x & y : x * y;
            default -> throw badCode("binary_typed in integers", "op", op);
        };
    }

    /** typed_pow_long: by squaring, the bits of c repeated multiplications modulo 2^64. */
    static long powLong(long x, long c) {
        long r = 1, base = x;
        for (long e = c; e != 0; e >>>= 1) {
            if ((e & 1) != 0) r *= base;
            base *= base;
        }
        return r;
    }

    /** typed_unary: Pointwise.Unary.f in double (code 10 is relu). */
    private static double unary(int op, double x) {
        return switch (op) {
            case 0 -> -x;
            case 1 -> Math.exp(x);
            case 2 -> Math.log(x);
            case 3 -> Math.sqrt(x);
            case 4 -> Math.abs(x);
            case 5 -> Math.sin(x);
            case 6 -> Math.cos(x);
            case 7 -> Math.asin(x);
            case 8 -> Math.tanh(x);
            case 9 -> 1 / (1 + Math.exp(-x));
            case 10 -> x > 0 ? x : 0;
            default -> throw badCode("unary_typed", "op", op);
        };
    }

    private static double unaryDerivative(int op, double x, double y) {
        return switch (op) {
            case 0 -> -1;
            case 1 -> y;
            case 2 -> 1 / x;
            case 3 -> 0.5 / y;
            case 4 -> Math.signum(x);
            case 5 -> Math.cos(x);
            case 6 -> -Math.sin(x);
            case 7 -> 1 / Math.sqrt(1 - x * x);
            case 8 -> 1 - y * y;
            case 9 -> y * (1 - y);
            case 10 -> y > 0 ? 1 : 0;
            default -> throw badCode("unary_backward_f64", "op", op);
        };
    }
}
