package dev.phalanx.kernels.device;

import java.util.Map;

import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.kernels.cpu.PoolGeometry;
import dev.phalanx.kernels.cpu.PoolKernels;

/**
 * The simulated device's twins of softmax.cu, the MSE kernels of losses.cu, the unary,
 * scalar and broadcasting kernels of elementwise.cu, the sums of reductions.cu and the average
 * pooling of pooling.cu (through the CPU's pooling kernels): the same arithmetic as the CPU ops (in
 * double where they compute in double, then rounded to float), so a golden test on {@code sim:N}
 * checks the host code around the kernels at the CPU's tolerances. Part of
 * {@link SimKernels#TWINS}.
 */
final class SimMathKernels {

    static final int SOFTMAX_THREADS = LaunchConfig.SOFTMAX_THREADS;

    /** The op codes of elementwise.cu's {@code UNARY_*} and {@code SCALAR_*} defines. */
    static final int NEG = 0, EXP = 1, LOG = 2, SQRT = 3, ABS = 4, SIN = 5, COS = 6, ASIN = 7, TANH = 8, SIGMOID = 9;
    static final int ADD = 0, MUL = 1, POW = 2, RSUB = 3;

    private SimMathKernels() { }

    static final Map<String, SimKernels.Twin> TWINS = Map.ofEntries(
            Map.entry("softmax_forward", SimMathKernels::softmaxForward),
            Map.entry("softmax_backward", SimMathKernels::softmaxBackward),
            Map.entry("squared_difference", (m, c, a) -> {
                long n = a.int64(3);
                float[] x = m.floats(a.buffer(0), n), y = m.floats(a.buffer(1), n), out = new float[(int) n];
                for (int i = 0; i < n; i++) out[i] = (x[i] - y[i]) * (x[i] - y[i]);
                m.put(a.buffer(2), out);
            }),
            Map.entry("mse_backward", (m, c, a) -> {
                long n = a.int64(5);
                float scale = a.float32(6);
                boolean perElement = a.int32(7) != 0, writeDb = a.int32(8) != 0;
                float[] x = m.floats(a.buffer(0), n), y = m.floats(a.buffer(1), n), g = m.floats(a.buffer(2), perElement ? n : 1);
                float[] da = new float[(int) n], db = new float[(int) n];
                for (int i = 0; i < n; i++) {
                    float gi = perElement ? g[i] * 2f : g[0] * scale;
                    da[i] = gi * (x[i] - y[i]);
                    db[i] = -da[i];
                }
                m.put(a.buffer(3), da);
                if (writeDb) m.put(a.buffer(4), db);
            }),
            Map.entry("sum_dim", (m, c, a) -> {
                int outer = a.int32(2), size = a.int32(3), inner = a.int32(4);
                float scale = a.float32(5);
                float[] x = m.floats(a.buffer(0), (long) outer * size * inner), out = new float[outer * inner];
                for (int j = 0; j < out.length; j++) {
                    int base = (j / inner) * size * inner + j % inner;
                    float s = 0f;
                    for (int k = 0; k < size; k++) s += x[base + k * inner];
                    out[j] = s * scale;
                }
                m.put(a.buffer(1), out);
            }),
            Map.entry("expand_dim", (m, c, a) -> {
                int outer = a.int32(2), size = a.int32(3), inner = a.int32(4);
                float scale = a.float32(5);
                float[] g = m.floats(a.buffer(0), (long) outer * inner), dx = new float[outer * size * inner];
                for (int i = 0; i < dx.length; i++) dx[i] = g[(i / (size * inner)) * inner + i % inner] * scale;
                m.put(a.buffer(1), dx);
            }),
            Map.entry("sum_to_shape", (m, c, a) -> {
                int ndim = a.int32(3);
                long count = a.int64(4);
                int[] meta = m.ints(a.buffer(2), 2L * ndim);
                int[] srcShape = java.util.Arrays.copyOfRange(meta, 0, ndim), dstShape = java.util.Arrays.copyOfRange(meta, ndim, 2 * ndim);
                int n = 1;
                for (int v : srcShape) n *= v;
                float[] src = m.floats(a.buffer(0), n), dst = new float[(int) count];
                // the CPU's sumTo: every src element added to its dst element, in src order
                int[] idx = new int[ndim];
                for (int i = 0; i < n; i++) {
                    int j = 0;
                    for (int d = 0; d < ndim; d++) j = j * dstShape[d] + (dstShape[d] == 1 ? 0 : idx[d]);
                    dst[j] += src[i];
                    for (int d = ndim - 1; d >= 0 && ++idx[d] == srcShape[d]; d--) idx[d] = 0;
                }
                m.put(a.buffer(1), dst);
            }),
            Map.entry("binary_same", (m, c, a) -> {
                long n = a.int64(4);
                int op = a.int32(3);
                float[] x = m.floats(a.buffer(0), n), y = m.floats(a.buffer(1), n);
                for (int i = 0; i < n; i++) x[i] = binary(op, x[i], y[i]);
                m.put(a.buffer(2), x);
            }),
            Map.entry("binary_broadcast", (m, c, a) -> {
                int ndim = a.int32(4), op = a.int32(5);
                long n = a.int64(6);
                int[] meta = m.ints(a.buffer(3), 3L * ndim);
                long na = 1, nb = 1; // each operand's extent: its largest offset + 1
                for (int d = 0; d < ndim; d++) {
                    na += (long) (meta[d] - 1) * meta[ndim + d];
                    nb += (long) (meta[d] - 1) * meta[2 * ndim + d];
                }
                float[] x = m.floats(a.buffer(0), na), y = m.floats(a.buffer(1), nb), out = new float[(int) n];
                for (int i = 0; i < n; i++) {
                    long rest = i, ia = 0, ib = 0;
                    for (int d = ndim - 1; d >= 0; d--) {
                        long k = rest % meta[d];
                        rest /= meta[d];
                        ia += k * meta[ndim + d];
                        ib += k * meta[2 * ndim + d];
                    }
                    out[i] = binary(op, x[(int) ia], y[(int) ib]);
                }
                m.put(a.buffer(2), out);
            }),
            Map.entry("avg_pool2d_forward", (m, c, a) -> {
                PoolGeometry g = avgPool(a);
                float[] x = m.floats(a.buffer(0), (long) g.planes() * g.h() * g.w()), y = new float[g.planes() * g.oh() * g.ow()];
                PoolKernels.avgForward(CpuBackend.serial(), g, x, y);
                m.put(a.buffer(1), y);
            }),
            Map.entry("avg_pool2d_backward", (m, c, a) -> {
                PoolGeometry g = avgPool(a);
                float[] dy = m.floats(a.buffer(0), (long) g.planes() * g.oh() * g.ow()), dx = new float[g.planes() * g.h() * g.w()];
                PoolKernels.avgBackward(CpuBackend.serial(), g, dy, dx);
                m.put(a.buffer(1), dx);
            }),
            Map.entry("adaptive_avg_pool2d_forward", (m, c, a) -> {
                int planes = a.int32(2), h = a.int32(3), w = a.int32(4), oh = a.int32(5), ow = a.int32(6);
                float[] x = m.floats(a.buffer(0), (long) planes * h * w), y = new float[planes * oh * ow];
                PoolKernels.adaptiveAvgForward(CpuBackend.serial(), planes, h, w, oh, ow, x, y);
                m.put(a.buffer(1), y);
            }),
            Map.entry("adaptive_avg_pool2d_backward", (m, c, a) -> {
                int planes = a.int32(2), h = a.int32(3), w = a.int32(4), oh = a.int32(5), ow = a.int32(6);
                float[] dy = m.floats(a.buffer(0), (long) planes * oh * ow), dx = new float[planes * h * w];
                PoolKernels.adaptiveAvgBackward(CpuBackend.serial(), planes, h, w, oh, ow, dy, dx);
                m.put(a.buffer(1), dx);
            }),
            Map.entry("nll_forward", (m, c, a) -> {
                int n = a.int32(3), k = a.int32(4);
                float[] lp = m.floats(a.buffer(0), (long) n * k), loss = new float[n];
                long[] t = m.longs(a.buffer(1), n);
                for (int r = 0; r < n; r++) loss[r] = t[r] >= 0 && t[r] < k ? -lp[(int) (r * k + t[r])] : Float.NaN;
                m.put(a.buffer(2), loss);
            }),
            Map.entry("nll_backward", (m, c, a) -> {
                int n = a.int32(3), k = a.int32(4);
                float scale = a.float32(5);
                boolean perElement = a.int32(6) != 0;
                long[] t = m.longs(a.buffer(0), n);
                float[] g = m.floats(a.buffer(1), perElement ? n : 1), dx = new float[n * k];
                for (int r = 0; r < n; r++) {
                    if (t[r] >= 0 && t[r] < k) dx[(int) (r * k + t[r])] = -(perElement ? g[r] : g[0] * scale);
                }
                m.put(a.buffer(2), dx);
            }),
            Map.entry("unary_forward", (m, c, a) -> {
                long n = a.int64(3);
                int op = a.int32(2);
                float[] x = m.floats(a.buffer(0), n);
                for (int i = 0; i < n; i++) x[i] = (float) unary(op, x[i]);
                m.put(a.buffer(1), x);
            }),
            Map.entry("unary_backward", (m, c, a) -> {
                long n = a.int64(5);
                int op = a.int32(4);
                float[] x = m.floats(a.buffer(0), n), y = m.floats(a.buffer(1), n), g = m.floats(a.buffer(2), n);
                for (int i = 0; i < n; i++) g[i] *= (float) unaryDerivative(op, x[i], y[i]);
                m.put(a.buffer(3), g);
            }),
            Map.entry("scalar_forward", (m, c, a) -> {
                long n = a.int64(4);
                float k = a.float32(2);
                int op = a.int32(3);
                float[] x = m.floats(a.buffer(0), n);
                for (int i = 0; i < n; i++) {
                    float v = x[i];
                    x[i] = switch (op) {
                        case ADD -> v + k;
                        case MUL -> v * k;
                        case POW -> k == 2f ? v * v : (float) Math.pow(v, k);
                        case RSUB -> k - v;
                        default -> throw badCode("scalar_forward", op);
                    };
                }
                m.put(a.buffer(1), x);
            }),
            Map.entry("scalar_backward", (m, c, a) -> {
                long n = a.int64(5);
                float k = a.float32(3);
                int op = a.int32(4);
                float[] x = m.floats(a.buffer(0), n), g = m.floats(a.buffer(1), n);
                for (int i = 0; i < n; i++) {
                    double v = x[i];
                    double d = switch (op) {
                        case ADD -> 1;
                        case MUL -> k;
                        case POW -> k == 2f ? 2 * v : k * Math.pow(v, k - 1);
                        case RSUB -> -1;
                        default -> throw badCode("scalar_backward", op);
                    };
                    g[i] *= (float) d;
                }
                m.put(a.buffer(2), g);
            }));

    /** As the CPU's {@code Binary.Fn.f}. */
    private static float binary(int op, float x, float y) {
        return switch (op) {
            case 0 -> x + y;
            case 1 -> x - y;
            case 2 -> x * y;
            case 3 -> x / y;
            default -> throw badCode("binary", op);
        };
    }

    /** avg_pool2d's arguments after its two pointers: planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw; oh and ow checked against the geometry. */
    private static PoolGeometry avgPool(KernelArgs a) {
        PoolGeometry g = new PoolGeometry(a.int32(2), a.int32(3), a.int32(4), a.int32(7), a.int32(8), a.int32(9), a.int32(10), a.int32(11), a.int32(12));
        if (g.oh() != a.int32(5) || g.ow() != a.int32(6)) {
            throw new IllegalArgumentException("avg_pool2d: output " + a.int32(5) + "x" + a.int32(6) + " does not match the geometry's " + g.oh() + "x" + g.ow());
        }
        return g;
    }

    private static IllegalArgumentException badCode(String kernel, int op) {
        return new IllegalArgumentException("kernel " + kernel + ": no function has code " + op);
    }

    /** As the CPU's {@code Pointwise.Unary.f}: in double, rounded to float by the caller. */
    private static double unary(int op, double x) {
        return switch (op) {
            case NEG -> -x;
            case EXP -> Math.exp(x);
            case LOG -> Math.log(x);
            case SQRT -> Math.sqrt(x);
            case ABS -> Math.abs(x);
            case SIN -> Math.sin(x);
            case COS -> Math.cos(x);
            case ASIN -> Math.asin(x);
            case TANH -> Math.tanh(x);
            case SIGMOID -> 1 / (1 + Math.exp(-x));
            default -> throw badCode("unary_forward", op);
        };
    }

    private static double unaryDerivative(int op, double x, double y) {
        return switch (op) {
            case NEG -> -1;
            case EXP -> y;
            case LOG -> 1 / x;
            case SQRT -> 0.5 / y;
            case ABS -> Math.signum(x);
            case SIN -> Math.cos(x);
            case COS -> -Math.sin(x);
            case ASIN -> 1 / Math.sqrt(1 - x * x);
            case TANH -> 1 - y * y;
            case SIGMOID -> y * (1 - y);
            default -> throw badCode("unary_backward", op);
        };
    }

    /** The reductions in softmax.cu use a fixed tree over exactly SOFTMAX_THREADS threads. */
    private static void checkBlock(String kernel, LaunchConfig cfg) {
        if (cfg.blockX() != SOFTMAX_THREADS || cfg.blockY() != 1 || cfg.blockZ() != 1) {
            throw new IllegalArgumentException("kernel " + kernel + " must be launched with blocks of " + SOFTMAX_THREADS + " threads, got " + cfg);
        }
    }

    private static void softmaxForward(SimKernels.Memory m, LaunchConfig cfg, KernelArgs a) {
        checkBlock("softmax_forward", cfg);
        int outer = a.int32(2), size = a.int32(3), inner = a.int32(4);
        boolean log = a.int32(5) != 0;
        long n = (long) outer * size * inner;
        float[] x = m.floats(a.buffer(0), n), y = new float[(int) n];
        for (int o = 0; o < outer; o++) {
            for (int in = 0; in < inner; in++) {
                int base = o * size * inner + in;
                float max = Float.NEGATIVE_INFINITY;
                for (int k = 0; k < size; k++) max = Math.max(max, x[base + k * inner]);
                double s = 0;
                for (int k = 0; k < size; k++) s += Math.exp(x[base + k * inner] - max);
                if (log) {
                    float lse = max + (float) Math.log(s);
                    for (int k = 0; k < size; k++) y[base + k * inner] = x[base + k * inner] - lse;
                } else {
                    float inv = (float) (1 / s);
                    for (int k = 0; k < size; k++) y[base + k * inner] = (float) Math.exp(x[base + k * inner] - max) * inv;
                }
            }
        }
        m.put(a.buffer(1), y);
    }

    private static void softmaxBackward(SimKernels.Memory m, LaunchConfig cfg, KernelArgs a) {
        checkBlock("softmax_backward", cfg);
        int outer = a.int32(3), size = a.int32(4), inner = a.int32(5);
        boolean log = a.int32(6) != 0;
        long n = (long) outer * size * inner;
        float[] y = m.floats(a.buffer(0), n), g = m.floats(a.buffer(1), n), dx = new float[(int) n];
        for (int o = 0; o < outer; o++) {
            for (int in = 0; in < inner; in++) {
                int base = o * size * inner + in;
                float s = 0;
                for (int k = 0; k < size; k++) s += log ? g[base + k * inner] : g[base + k * inner] * y[base + k * inner];
                for (int k = 0; k < size; k++) {
                    int i = base + k * inner;
                    dx[i] = log ? g[i] - (float) Math.exp(y[i]) * s : y[i] * (g[i] - s);
                }
            }
        }
        m.put(a.buffer(2), dx);
    }
}
