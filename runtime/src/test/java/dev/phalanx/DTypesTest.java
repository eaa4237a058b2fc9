package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.phalanx.io.SafeTensors;
import dev.phalanx.kernels.Device;
import dev.phalanx.tensor.DType;
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
    void opsWithoutKernelsForADtypeSaySo() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Tensor.ones(DType.FLOAT64, 2, 2).matmul(Tensor.ones(DType.FLOAT64, 2, 2)));
        assertTrue(e.getMessage().startsWith("matmul: expected float32 tensors, got one of torch.float64"), e.getMessage());
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
