package dev.phalanx.blitz;

import static dev.phalanx.tensor.Index.all;
import static dev.phalanx.tensor.Index.at;
import static dev.phalanx.tensor.Index.range;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

import dev.phalanx.Phalanx;
import dev.phalanx.kernels.Device;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Tensor;

/**
 * The blitz's tensor chapter written in Java as a user would, asserting what it prints: the
 * tour ({@code x[:, 1]}, {@code torch.Size}, {@code torch.add(x, y, out=result)}), double
 * tensors, the int16 tensor, seeds, and the NumPy bridge.
 */
class TensorsChapterTest {

    @Test
    void tour() {
        Tensor z = Tensor.zeros(5, 3);
        assertEquals("tensor([[0., 0., 0.],\n        [0., 0., 0.],\n        [0., 0., 0.],\n        [0., 0., 0.],\n        [0., 0., 0.]])", z.toString());
        assertEquals("torch.float32", z.dtype().toString());

        Tensor x = Tensor.rand(5, 3);
        assertEquals("torch.Size([5, 3])", x.size().toString());
        Tensor y = Tensor.rand(5, 3);
        Tensor result = Tensor.empty(5, 3);
        Tensor.add(x, y, result); // torch.add(x, y, out=result)
        assertEquals(x.add(y).toString(), result.toString());
        y.add_(x);
        assertEquals(result.toString(), y.toString());

        Tensor column = x.index(all(), at(1)); // x[:, 1]
        assertEquals("torch.Size([5])", column.size().toString());
        for (int i = 0; i < 5; i++) assertEquals(x.get(i, 1), column.get(i));
        column.fill_(7); // a view: x changes with it
        for (int i = 0; i < 5; i++) assertEquals(7f, x.get(i, 1));
        assertEquals("torch.Size([2, 3])", x.index(range(1, 3)).size().toString());

        Tensor ones = Tensor.ones(2, 3), twos = Tensor.ones(2, 3).mul(2);
        Tensor threes = ones.add(twos);
        assertEquals("tensor([[3., 3., 3.],\n        [3., 3., 3.]])", threes.toString());
        assertEquals("torch.Size([2, 3])", threes.size().toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Tensor.rand(2, 3).add(Tensor.rand(3, 2)));
        assertEquals("add: The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1 (shapes [2, 3] and [3, 2])",
                e.getMessage());
    }

    @Test
    void theIntTensorAndDoubleTensors() {
        Tensor i = Tensor.ones(DType.INT16, 5, 3); // torch.ones((5, 3), dtype=torch.int16)
        assertEquals("tensor([[1, 1, 1],\n        [1, 1, 1],\n        [1, 1, 1],\n        [1, 1, 1],\n        [1, 1, 1]], dtype=torch.int16)",
                i.toString());
        assertEquals("tensor([[2, 2, 2],\n        [2, 2, 2],\n        [2, 2, 2],\n        [2, 2, 2],\n        [2, 2, 2]], dtype=torch.int16)",
                i.add(i).toString()); // int + int stays int

        Tensor x = Tensor.zeros(5, 3).newOnes(DType.FLOAT64, 5, 3); // x.new_ones(5, 3, dtype=torch.double)
        assertEquals(DType.FLOAT64, x.dtype());
        Tensor r = Tensor.randnLike(x, DType.FLOAT32); // torch.randn_like(x, dtype=torch.float)
        assertEquals(DType.FLOAT32, r.dtype());
        assertEquals(x.size(), r.size());
        Tensor sum = x.add(r); // float64 + float32 -> float64
        assertEquals(DType.FLOAT64, sum.dtype());
        Tensor back = sum.to(Device.CPU, DType.FLOAT64); // .to("cpu", torch.double)
        assertEquals(sum.toString(), back.toString());
        assertEquals(DType.FLOAT32, x.to(Device.CPU, DType.FLOAT32).dtype());
    }

    @Test
    void seedsRepeatTheirNumbers() {
        Phalanx.manualSeed(1729);
        Tensor r1 = Tensor.rand(2, 2);
        Tensor r2 = Tensor.rand(2, 2);
        Phalanx.manualSeed(1729);
        Tensor r3 = Tensor.rand(2, 2);
        assertEquals(r1.toString(), r3.toString());
        assertNotEquals(r1.toString(), r2.toString());
    }

    @Test
    void stdMeanAlongADimension() {
        Tensor r = Tensor.of(new float[] {1, 2, 3, 5}, 2, 2);
        Tensor[] all = r.stdMean();
        assertEquals("tensor(1.7078)", all[0].toString());
        assertEquals("tensor(2.7500)", all[1].toString());
        Tensor[] rows = r.stdMean(1, false);
        assertEquals("tensor([0.7071, 1.4142])", rows[0].toString());
        assertEquals("tensor([1.5000, 4.0000])", rows[1].toString());
    }

    @Test
    void numpyBridge() {
        Tensor a = Tensor.ones(5);
        assertEquals("tensor([1., 1., 1., 1., 1.])", a.toString());
        float[] b = a.data(); // b = a.numpy(): the same memory
        a.add_(1f);
        assertArrayEquals(new float[] {2, 2, 2, 2, 2}, b);

        double[] n = {1, 1, 1, 1, 1}; // a = np.ones(5); b = torch.from_numpy(a)
        Tensor t = Tensor.of(DType.FLOAT64, n, 5);
        for (int k = 0; k < n.length; k++) n[k] += 1; // np.add(a, 1, out=a)
        assertEquals("tensor([2., 2., 2., 2., 2.], dtype=torch.float64)", t.toString());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Tensor.ones(3, 3).t().data());
        assertEquals(true, e.getMessage().contains("call contiguous()"));
    }
}
