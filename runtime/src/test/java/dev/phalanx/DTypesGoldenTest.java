package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BinaryOperator;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.phalanx.io.SafeTensors;
import dev.phalanx.nn.F;
import dev.phalanx.ops.PoolOps;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Tensor;

/**
 * Type promotion, integer wrapping, conversions, float16/bfloat16 rounding, views and writes
 * through them, against PyTorch 1.13: {@code golden/dtypes.safetensors}, made by
 * {@code runtime/src/test/python/gen_dtype_golden.py}. Results must match in dtype, shape and
 * every value exactly (all inputs are small integers or values each dtype rounds the same way).
 */
class DTypesGoldenTest {

    private static Map<String, Tensor> g;
    private static final String[] CODES = {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL"};

    @BeforeAll
    static void load() throws IOException {
        try (InputStream in = DTypesGoldenTest.class.getResourceAsStream("/golden/dtypes.safetensors")) {
            g = SafeTensors.parse(in.readAllBytes(), "golden/dtypes.safetensors").tensors();
        }
    }

    private static Tensor get(String name) {
        Tensor t = g.get(name);
        if (t == null) throw new IllegalStateException("golden tensor " + name + " is missing");
        return t;
    }

    /** Same dtype, shape and values; returns a description of the first difference, or null. */
    private static String diff(String name, Tensor expected, Tensor actual) {
        if (expected.dtype() != actual.dtype()) return name + ": dtype " + actual.dtype() + ", PyTorch gives " + expected.dtype();
        if (!java.util.Arrays.equals(expected.shape(), actual.shape())) {
            return name + ": shape " + java.util.Arrays.toString(actual.shape()) + ", expected " + java.util.Arrays.toString(expected.shape());
        }
        if (expected.dtype().isFloatingPoint()) {
            double[] e = expected.contiguousDoubles(), a = actual.contiguousDoubles();
            for (int i = 0; i < e.length; i++) {
                if (Double.compare(e[i], a[i]) != 0 && !(e[i] == a[i])) return name + ": element " + i + " is " + a[i] + ", expected " + e[i];
            }
        } else {
            long[] e = expected.contiguousLongs(), a = actual.contiguousLongs();
            for (int i = 0; i < e.length; i++) if (e[i] != a[i]) return name + ": element " + i + " is " + a[i] + ", expected " + e[i];
        }
        return null;
    }

    private static void check(List<String> problems, String name, java.util.function.Supplier<Tensor> actual) {
        Tensor result;
        try {
            result = actual.get();
        } catch (RuntimeException e) {
            problems.add(name + ": " + e);
            return;
        }
        String d = diff(name, get(name), result);
        if (d != null) problems.add(d);
    }

    private static void assertNone(List<String> problems) {
        assertTrue(problems.isEmpty(), problems.size() + " mismatches:\n" + String.join("\n", problems));
    }

    @Test
    void binaryOpsPromoteAsPyTorchDoes() {
        List<String> problems = new ArrayList<>();
        Map<String, BinaryOperator<Tensor>> ops = Map.of("add", Tensor::add, "sub", Tensor::sub, "mul", Tensor::mul, "div", Tensor::div,
                "lt", Tensor::lt, "eq", Tensor::eq);
        for (String ka : CODES) {
            for (String kb : CODES) {
                Tensor a = get("in.a." + ka), b = get("in.b." + kb);
                for (var op : ops.entrySet()) {
                    String name = op.getKey() + "." + ka + "." + kb;
                    if (g.containsKey(name)) check(problems, name, () -> op.getValue().apply(a, b));
                }
                check(problems, "add0." + ka + "." + kb, () -> a.add(get("in.s." + kb)));
            }
        }
        assertNone(problems);
        assertEquals(6 * 100 - 19 + 100, countChecked(), "every pair was compared");
    }

    private static long countChecked() {
        return g.keySet().stream().filter(k -> k.matches("(add|sub|mul|div|lt|eq|add0)\\..*")).count();
    }

    @Test
    void javaScalarsCountAsPythonScalarsAndIntegerSumsAreInt64() {
        List<String> problems = new ArrayList<>();
        for (String k : CODES) {
            Tensor a = get("in.a." + k);
            check(problems, "addint." + k, () -> a.add(3L));
            check(problems, "addfloat." + k, () -> a.add(2.5));
            if (g.containsKey("mulint." + k)) check(problems, "mulint." + k, () -> a.mul(3L));
            check(problems, "sum." + k, a::sum);
            check(problems, "sum0." + k, () -> Tensor.cat(List.of(a.unsqueeze(0), a.unsqueeze(0)), 0).sum(0, false));
        }
        assertNone(problems);
    }

    @Test
    void integerArithmeticWrapsAndStaysExact() {
        List<String> problems = new ArrayList<>();
        for (String k : new String[] {"I8", "U8", "I16", "I32", "I64"}) {
            Tensor x = get("wrap.in." + k);
            check(problems, "wrap.mul3." + k, () -> x.mul(3L));
            check(problems, "wrap.add." + k, () -> x.add(x));
            check(problems, "wrap.sum." + k, x::sum);
        }
        check(problems, "exact.int64", () -> Tensor.ofLongs(16777217).add(0L));
        assertNone(problems);
        assertEquals(16777217L, Tensor.ofLongs(16777217).add(Tensor.ofLongs(0)).longItem());
    }

    @Test
    void conversionsBetweenEveryPair() {
        List<String> problems = new ArrayList<>();
        Tensor src = get("conv.src");
        for (String ka : CODES) {
            DType da = DType.fromSafetensors(ka);
            check(problems, "conv.first." + ka, () -> (da == DType.UINT8 ? src.abs() : src).to(da));
            for (String kb : CODES) check(problems, "conv." + ka + "." + kb, () -> get("conv.first." + ka).to(DType.fromSafetensors(kb)));
        }
        check(problems, "half.F16", () -> get("half.src").to(DType.FLOAT16));
        check(problems, "half.BF16", () -> get("half.src").to(DType.BFLOAT16));
        check(problems, "half.F16.up", () -> get("half.F16").to(DType.FLOAT32));
        check(problems, "half.BF16.up", () -> get("half.BF16").to(DType.FLOAT32));
        assertNone(problems);
    }

    @Test
    void viewsAndWritesThroughThem() {
        List<String> problems = new ArrayList<>();
        Tensor x = get("view.x");
        check(problems, "view.select", () -> x.select(1, 1).contiguous());
        check(problems, "view.permute", () -> x.permute(2, 0, 1).contiguous());
        check(problems, "view.slice", () -> x.slice(2, 1, 4, 2).contiguous());
        check(problems, "view.reshape_t", () -> x.transpose(1, 2).reshape(2, 12));
        check(problems, "view.expand_sum", () -> x.slice(1, 0, 1).expand(2, 3, 4).sum(0, false));
        check(problems, "view.t_view_split", () -> x.permute(1, 0, 2).view(3, 2, 2, 2).contiguous());
        assertArrayEquals(get("view.select.stride").contiguousLongs(), toLongs(x.select(1, 1).stride()));
        assertArrayEquals(get("view.permute.stride").contiguousLongs(), toLongs(x.permute(2, 0, 1).stride()));
        assertArrayEquals(get("view.slice.stride").contiguousLongs(), toLongs(x.slice(2, 1, 4, 2).stride()));
        check(problems, "write.result", () -> {
            Tensor y = x.clone();
            y.select(1, 1).fill_(0);                      // y[:, 1] = 0
            y.transpose(0, 2).select(0, 1).add_(100f);   // y.transpose(0, 2)[1] += 100
            y.slice(2, 0, 4, 2).mul_(-1f);               // y[..., ::2] *= -1
            y.narrow(1, 2, 1).copy_(Tensor.of(7, 8, 9, 10));
            return y;
        });
        assertNone(problems);
    }

    @Test
    void matmulIsExactInFloat64AndWrapsInIntegers() {
        List<String> problems = new ArrayList<>();
        for (String k : new String[] {"F64", "I64", "I32", "I8"}) {
            check(problems, "mm." + k, () -> get("mm.a." + k).matmul(get("mm.b." + k)));
        }
        assertNone(problems);
    }

    /**
     * The float32-only layers on float64 tensors compute in float32 (DESIGN.md): the results and
     * every gradient come back in float64 and agree with PyTorch's float64 to float32's rounding.
     */
    @Test
    void layersOnFloat64ComputeInFloat32AndGiveFloat64Gradients() {
        Tensor x = get("layers.x.F64").clone().requiresGrad(true), w = get("layers.w.F64").clone().requiresGrad(true);
        Tensor bias = get("layers.bias.F64").clone().requiresGrad(true), lw = get("layers.lw.F64").clone().requiresGrad(true);
        Tensor h = F.conv2d(x, w, bias, 1, 1, 1, 1);
        Tensor p = F.maxPool2d(h.relu(), 2);
        Tensor q = PoolOps.adaptiveAvgPool2d(p, 2, 2);
        Tensor logits = F.linear(q.flatten(1), lw, null);
        Tensor loss = F.crossEntropy(logits, get("layers.target"));
        loss.backward();
        Map<String, Tensor> actual = Map.of("conv", h, "logits", logits, "loss", loss, "softmax", F.softmax(logits.detach(), 1),
                "grad.x", x.grad(), "grad.w", w.grad(), "grad.bias", bias.grad(), "grad.lw", lw.grad());
        List<String> problems = new ArrayList<>();
        for (var e : actual.entrySet()) {
            Tensor expected = get("layers." + e.getKey() + ".F64");
            Tensor a = e.getValue();
            if (a.dtype() != DType.FLOAT64) {
                problems.add(e.getKey() + ": dtype " + a.dtype() + ", PyTorch gives float64");
                continue;
            }
            double[] ev = expected.contiguousDoubles(), av = a.contiguousDoubles();
            double scale = 0;
            for (double v : ev) scale = Math.max(scale, Math.abs(v));
            for (int i = 0; i < ev.length; i++) {
                if (Math.abs(ev[i] - av[i]) > 1e-6 * scale + 1e-7) { // float32's rounding, accumulated over a few hundred terms
                    problems.add(e.getKey() + "[" + i + "] is " + av[i] + ", PyTorch's float64 gives " + ev[i]);
                    break;
                }
            }
        }
        assertNone(problems);
    }

    private static long[] toLongs(int[] a) {
        long[] out = new long[a.length];
        for (int i = 0; i < a.length; i++) out[i] = a[i];
        return out;
    }
}
