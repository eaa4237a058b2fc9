package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.io.SafeTensors;
import dev.phalanx.kernels.Device;
import dev.phalanx.nn.F;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.ops.BatchNormOp;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** dtypes beyond the golden file: printing, item(), in-place casting rules, safetensors, autograd in float64. */
class DTypesTest {

    @Test
    void catPromotesAsPyTorchDoesAndGivesEachInputItsOwnGradientDtype() {
        Tensor ints = Tensor.ofLongs(16777217, -2), floats = Tensor.of(0.5f);
        Tensor c = Tensor.cat(java.util.List.of(ints, floats), 0);
        assertEquals(DType.FLOAT32, c.dtype(), "torch.cat([int64, float32]) is float32");
        assertEquals(16777216f, c.get(0), "16777217 rounds to float32 as torch.cat rounds it");
        assertEquals(0.5f, c.get(2));
        assertEquals(DType.INT32, Tensor.cat(java.util.List.of(Tensor.ofInts(1), Tensor.ofLongs(2).to(DType.BOOL)), 0).dtype());

        Tensor a = Tensor.of(1f, 2f).requiresGrad(true), b = Tensor.ofDoubles(3).requiresGrad(true);
        Tensor joined = Tensor.cat(java.util.List.of(a, b), 0);
        assertEquals(DType.FLOAT64, joined.dtype());
        joined.mul(Tensor.ofDoubles(10, 20, 30)).sum().backward();
        assertEquals(DType.FLOAT32, a.grad().dtype(), "each input's gradient has that input's dtype");
        assertEquals(DType.FLOAT64, b.grad().dtype());
        assertEquals(20f, a.grad().get(1));
        assertEquals(30.0, b.grad().doubleData()[0]);

        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.cat(java.util.List.of(Tensor.zeros(2, 2), Tensor.zeros(2)), 0));
        assertTrue(e.getMessage().startsWith("cat(): Tensors must have same number of dimensions: got 2 and 1"), e.getMessage());
    }

    @Test
    void printsTheDtypeWhereTheValuesDoNotShowIt() {
        assertEquals("tensor([[1., 1.],\n        [1., 1.]], dtype=torch.float64)", Tensor.ones(DType.FLOAT64, 2, 2).toString());
        assertEquals("tensor([1, 2], dtype=torch.int32)", Tensor.ofInts(1, 2).toString());
        assertEquals("tensor([ True, False])", Tensor.ofBools(true, false).toString());
        assertEquals("tensor([1, 2])", Tensor.ofLongs(1, 2).toString());
        assertEquals("tensor([0.5000, 1.5000], dtype=torch.float16)", Tensor.of(0.5f, 1.5f).to(DType.FLOAT16).toString());
        assertEquals("tensor([True, True])", Tensor.ofLongs(1, 2).gt(0.5).toString());
    }

    @Test
    void itemIsExactOrSaysWhichAccessorIs() {
        assertEquals(16777217L, Tensor.ofLongs(16777217).longItem());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Tensor.ofLongs(16777217).item());
        assertTrue(e.getMessage().contains("use longItem()"), e.getMessage());
        assertEquals(0.1, Tensor.ofDoubles(0.1).doubleItem());
        e = assertThrows(IllegalStateException.class, () -> Tensor.ofDoubles(0.1).item());
        assertTrue(e.getMessage().contains("use doubleItem()"), e.getMessage());
        assertEquals(3f, Tensor.ofLongs(3).item());
        assertEquals(3.140625f, Tensor.of(3.14159f).to(DType.BFLOAT16).item());
        assertTrue(Tensor.ofBools(true).boolItem());
    }

    @Test
    void inPlaceRefusesAResultItsDtypeCannotHold() {
        Tensor longs = Tensor.ofLongs(1, 2);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> longs.add_(Tensor.of(0.5f, 0.5f)));
        assertEquals("result type Float can't be cast to the desired output type Long", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> longs.mul_(2f));
        longs.add_(Tensor.ofInts(10, 20));
        assertEquals("tensor([11, 22])", longs.toString());
        Tensor d = Tensor.ones(DType.FLOAT64, 2).add_(Tensor.of(0.25f, 0.5f));
        assertEquals(DType.FLOAT64, d.dtype());
        assertEquals(1.25, d.getDouble(0));
    }

    @Test
    void longTimesAJavaFloatIsFloat32AndTimesALongStaysLong() {
        assertEquals("tensor([2., 4.])", Tensor.ofLongs(1, 2).mul(2f).toString());
        assertEquals("tensor([2, 4])", Tensor.ofLongs(1, 2).mul(2).toString());
        assertEquals("tensor([0.5000, 1.0000])", Tensor.ofLongs(1, 2).div(2).toString());
    }

    @Test
    void toDeviceAndDtype() {
        Tensor x = Tensor.of(1.5f, 2.5f);
        Tensor d = x.to(Device.CPU, DType.FLOAT64);
        assertEquals(DType.FLOAT64, d.dtype());
        assertSame(x, x.to(Device.CPU, DType.FLOAT32));
        assertEquals("tensor([1, 2], dtype=torch.int32)", x.to(DType.INT32).toString());
    }

    @Test
    void safetensorsRoundTripsEveryDtype() {
        Map<String, Tensor> in = new LinkedHashMap<>();
        Tensor base = Tensor.of(-2.5f, 0f, 1f, 100.25f);
        for (DType t : DType.values()) in.put(t.safetensorsName(), (t == DType.UINT8 ? base.abs() : base).to(t).view(2, 2));
        in.put("view", Tensor.arange(6).view(2, 3).t()); // written row-major
        Map<String, Tensor> out = SafeTensors.parse(SafeTensors.serialize(in, Map.of()), "memory").tensors();
        for (var e : in.entrySet()) {
            Tensor back = out.get(e.getKey());
            assertEquals(e.getValue().dtype(), back.dtype(), e.getKey());
            assertEquals(e.getValue().toString(), back.toString(), e.getKey());
        }
    }

    @Test
    void layerOpsRefuseIntegersAndMixedDtypesSayingWhatToConvert() {
        Tensor ints = Tensor.ones(DType.INT64, 1, 1, 4, 4), w = Tensor.ones(1, 1, 3, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> F.conv2d(ints, w.to(DType.INT64), null, 1, 1, 0, 0));
        assertTrue(e.getMessage().startsWith("conv2d: not implemented for torch.int64 (PyTorch: \"conv2d\" not implemented for 'Long')"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> F.conv2d(ints.to(DType.FLOAT64), w, null, 1, 1, 0, 0));
        assertEquals("conv2d: expected all tensors to have the same dtype, but got torch.float64 and torch.float32; convert one of them "
                + "with to(DType.FLOAT64)", e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.ones(DType.FLOAT64, 2, 2).matmul(Tensor.ones(2, 2)));
        assertTrue(e.getMessage().startsWith("matmul: expected m1 and m2 to have the same dtype, but got: torch.float64 != torch.float32"),
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Tensor.ones(DType.BOOL, 2, 2).matmul(Tensor.ones(DType.BOOL, 2, 2)));
        assertTrue(e.getMessage().contains("not implemented for torch.bool"), e.getMessage());
    }

    /** float16 and bfloat16 are storage formats: a layer computes in float32 and rounds its result once, and so does its gradient. */
    @Test
    void halfPrecisionLayersAreTheFloat32LayerRoundedOnce() {
        Generator gen = new Generator(7);
        Tensor x32 = Tensor.randn(gen, 3, 2, 5, 5), w32 = Tensor.randn(gen, 4, 2, 3, 3), lw32 = Tensor.randn(gen, 5, 36);
        for (DType half : new DType[] {DType.FLOAT16, DType.BFLOAT16}) {
            Tensor x = x32.to(half).requiresGrad(true), w = w32.to(half), lw = lw32.to(half);
            Tensor y = F.linear(F.conv2d(x, w, null, 1, 1, 0, 0).flatten(1).narrow(1, 0, 36), lw, null);
            Tensor expected;
            try (GradMode.Scope ignored = GradMode.noGrad()) {
                Tensor h = F.conv2d(x.to(DType.FLOAT32), w.to(DType.FLOAT32), null, 1, 1, 0, 0).to(half).to(DType.FLOAT32);
                expected = F.linear(h.flatten(1).narrow(1, 0, 36), lw.to(DType.FLOAT32), null).to(half);
            }
            assertEquals(half, y.dtype());
            assertArrayEquals(expected.contiguousDoubles(), y.contiguousDoubles(), half.toString()); // the same bits
            y.sum().backward();
            assertEquals(half, x.grad().dtype());
            assertArrayEquals(x.shape(), x.grad().shape());
        }
    }

    /** Batch norm on float64: the float32 kernel's result comes back in float64, and the float64 running statistics still move. */
    @Test
    void batchNormInFloat64UpdatesItsFloat64RunningStatistics() {
        Tensor x = Tensor.randn(new Generator(3), 4, 2, 3, 3);
        Tensor mean32 = Tensor.zeros(2), var32 = Tensor.ones(2);
        Tensor expected = BatchNormOp.apply(x, mean32, var32, null, null, true, 0.1f, 1e-5f);
        Tensor mean64 = Tensor.zeros(DType.FLOAT64, 2), var64 = Tensor.ones(DType.FLOAT64, 2);
        Tensor y = BatchNormOp.apply(x.to(DType.FLOAT64), mean64, var64, null, null, true, 0.1f, 1e-5f);
        assertEquals(DType.FLOAT64, y.dtype());
        assertEquals(DType.FLOAT64, mean64.dtype());
        assertArrayEquals(expected.contiguousDoubles(), y.contiguousDoubles());
        assertArrayEquals(mean32.contiguousDoubles(), mean64.contiguousDoubles());
        assertArrayEquals(var32.contiguousDoubles(), var64.contiguousDoubles());
        assertTrue(mean64.getDouble(0) != 0 && var64.getDouble(1) != 1, "the running statistics moved");
    }

    /**
     * {@code model.to(DType.FLOAT64)} (PyTorch's {@code model.double()}) trains: the layers and
     * SGD compute in float32, so from the same start it takes exactly the float32 model's steps,
     * with every parameter, gradient and output in float64.
     */
    @Test
    void aModelConvertedToFloat64TrainsAsTheFloat32ModelDoes() {
        LeNet single = LeNet.cifar(new Generator(11)), dbl = LeNet.cifar(new Generator(11));
        Tensor weight = dbl.parameters().get(0);
        assertSame(dbl, dbl.to(DType.FLOAT64));
        assertSame(weight, dbl.parameters().get(0), "the parameter objects stay (setData), as PyTorch's do");
        for (Tensor p : dbl.parameters()) assertEquals(DType.FLOAT64, p.dtype());
        SGD a = new SGD(single.parameters(), 0.01f, 0.9f), b = new SGD(dbl.parameters(), 0.01f, 0.9f);
        Generator data = new Generator(5);
        for (int step = 0; step < 3; step++) {
            Tensor x = Tensor.randn(data, 4, 3, 32, 32), target = Tensor.ofLongs(1, 7, 3, 3);
            a.zeroGrad();
            F.crossEntropy(single.forward(x), target).backward();
            a.step();
            b.zeroGrad();
            Tensor loss = F.crossEntropy(dbl.forward(x.to(DType.FLOAT64)), target);
            assertEquals(DType.FLOAT64, loss.dtype());
            loss.backward();
            assertEquals(DType.FLOAT64, weight.grad().dtype());
            b.step();
        }
        for (int i = 0; i < single.parameters().size(); i++) {
            Tensor p = dbl.parameters().get(i);
            assertEquals(DType.FLOAT64, p.dtype());
            assertArrayEquals(single.parameters().get(i).contiguousDoubles(), p.contiguousDoubles(), "parameter " + i);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> dbl.to(DType.INT64));
        assertEquals("nn.Module.to only accepts floating point dtypes, but got desired dtype=torch.int64", e.getMessage());
    }

    @Test
    void matmulOfInt64KeepsEveryBit() {
        Tensor a = Tensor.ofLongs(new long[] {16777217L, 1, 3, (1L << 53) + 1}, 2, 2);
        Tensor r = a.matmul(Tensor.ofLongs(new long[] {1, 0, 0, 1}, 2, 2));
        assertEquals(DType.INT64, r.dtype());
        assertArrayEquals(a.contiguousLongs(), r.contiguousLongs());
    }

    @Test
    void gradientsInFloat64() {
        Tensor x = Tensor.ofDoubles(1, 2, 3).requiresGrad(true);
        Tensor y = x.mul(x).mul(3.0).add(x.exp()).sum();
        assertEquals(DType.FLOAT64, y.dtype());
        y.backward();
        assertEquals(DType.FLOAT64, x.grad().dtype());
        for (int i = 0; i < 3; i++) assertEquals(6 * (i + 1) + Math.exp(i + 1), x.grad().getDouble(i), 1e-12);
        Tensor f = Tensor.of(1f, 2f).requiresGrad(true);
        f.to(DType.FLOAT64).mul(Tensor.ofDoubles(0.5, 0.25)).sum().backward();
        assertEquals("tensor([0.5000, 0.2500])", f.grad().toString());
    }
}
