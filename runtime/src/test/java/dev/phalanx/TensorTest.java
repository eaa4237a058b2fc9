package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

class TensorTest {

    @Test
    void generatorsWithTheSameSeedAgreeAndStateRoundTrips() {
        Generator a = new Generator(42), b = new Generator(42);
        assertArrayEquals(Tensor.randn(a, 100).data(), Tensor.randn(b, 100).data());
        assertNotEquals(Tensor.rand(new Generator(1), 4).get(0), Tensor.rand(new Generator(2), 4).get(0));
        long[] saved = a.state();
        float[] next = Tensor.randn(a, 7).data();
        a.setState(saved);
        assertArrayEquals(next, Tensor.randn(a, 7).data());
        Tensor u = Tensor.rand(new Generator(3), 10000);
        for (float v : u.data()) assertTrue(v >= 0 && v < 1);
        assertEquals(0.5, u.mean().item(), 0.02);
        Tensor n = Tensor.randn(new Generator(3), 20000);
        assertEquals(0, n.mean().item(), 0.03);
        assertEquals(1, n.std().item(), 0.03);
    }

    @Test
    void creation() {
        assertEquals("tensor([0., 1., 2., 3.])", Tensor.arange(4).toString());
        assertEquals("tensor([[0., 0.]])", Tensor.zeros(1, 2).toString());
        assertEquals("tensor([[7., 7.]])", Tensor.full(7f, 1, 2).toString());
        assertEquals("tensor([3, 1, 4])", Tensor.ofLongs(3, 1, 4).toString());
        assertEquals(DType.INT64, Tensor.randint(new Generator(1), 0, 10, 5).dtype());
        assertEquals("tensor([[1., 0.],\n        [0., 1.]])", Tensor.eye(2).toString());
        assertEquals(3.5f, Tensor.scalar(3.5f).item());
        assertThrows(IllegalStateException.class, () -> Tensor.ones(2).item());
    }

    @Test
    void broadcastingArithmetic() {
        Tensor a = Tensor.of(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
        assertEquals("tensor([[11., 22., 33.],\n        [14., 25., 36.]])", a.add(Tensor.of(10, 20, 30)).toString());
        assertEquals("tensor([[ 1.,  2.,  3.],\n        [ 8., 10., 12.]])", a.mul(Tensor.of(new float[] {1, 2}, 2, 1)).toString());
        assertEquals(21f, a.sum().item());
        assertEquals("tensor([ 6., 15.])", a.sum(1, false).toString());
        assertEquals("tensor([[2.5000, 3.5000, 4.5000]])", a.mean(0, true).toString());
        var m = a.max(1, false);
        assertEquals("tensor([3., 6.])", m.values().toString());
        assertEquals("tensor([2, 2])", m.indices().toString());
        Tensor b = a.clone();
        b.mul_(2f).add_(Tensor.ones(3));
        assertEquals("tensor([[ 3.,  5.,  7.],\n        [ 9., 11., 13.]])", b.toString());
    }

    @Test
    void shapes() {
        Tensor x = Tensor.arange(0, 24, 1).view(2, 3, 4);
        assertArrayEquals(new int[] {6, 4}, x.view(-1, 4).shape());
        assertArrayEquals(new int[] {2, 12}, x.flatten(1).shape());
        assertArrayEquals(new int[] {4, 2, 3}, x.permute(2, 0, 1).shape());
        assertEquals(13f, x.permute(2, 0, 1).get(1, 1, 0));
        assertEquals("tensor([[ 1.,  2.],\n        [ 5.,  6.],\n        [ 9., 10.]])", x.select(0, 0).slice(1, 1, 3).toString());
        List<Tensor> pieces = x.split(1, 0);
        assertEquals(2, pieces.size());
        assertEquals(x.toString(), Tensor.cat(pieces, 0).toString());
        assertArrayEquals(new int[] {1, 2, 3, 4}, x.unsqueeze(0).shape());
    }

    @Test
    void chunkFollowsTorchChunk() {
        assertEquals(List.of(4, 4, 4, 4, 4, 4, 4, 2), sizes(Tensor.zeros(30, 5).chunk(8, 0)));
        assertEquals(List.of(2, 2, 2, 2, 2), sizes(Tensor.zeros(10, 5).chunk(8, 0)));
        assertEquals(List.of(15, 15), sizes(Tensor.zeros(30, 5).chunk(2, 0)));
        assertEquals(List.of(4, 4, 2), sizes(Tensor.zeros(10, 5).chunk(3, 0)));
        assertEquals(List.of(3, 3, 1), sizes(Tensor.zeros(7, 1).chunk(3, 0)));
    }

    private static List<Integer> sizes(List<Tensor> ts) {
        return ts.stream().map(t -> t.size(0)).toList();
    }

    @Test
    void printingSwitchesToScientificAndSummarises() {
        assertEquals("tensor([1.0000e-05, 1.0000e+00])", Tensor.of(1e-5f, 1f).toString());
        String big = Tensor.arange(2000).toString();
        assertTrue(big.startsWith("tensor([   0.,    1.,    2.,  ..., 1997., 1998., 1999.])"), big);
        String wide = Tensor.arange(12).mul(1.5f).toString();
        // 80 columns less the 7 of "tensor(" leave room for 8 elements of width 7 + 2 per line
        assertEquals("tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,\n"
                + "        12.0000, 13.5000, 15.0000, 16.5000])", wide);
    }

    @Test
    void inPlaceOnALeafThatRequiresGradIsRefused() {
        Tensor w = Tensor.ones(3).requiresGrad(true);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> w.add_(1f));
        assertTrue(e.getMessage().contains("leaf Variable that requires grad"), e.getMessage());
        try (var s = dev.phalanx.autograd.GradMode.noGrad()) {
            w.add_(1f);
        }
        assertEquals(2f, w.get(0));
    }

    @Test
    void backwardOfANonScalarNeedsAGradient() {
        Tensor x = Tensor.ones(3).requiresGrad(true);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> x.mul(2f).backward());
        assertTrue(e.getMessage().startsWith("grad can be implicitly created only for scalar outputs"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> Tensor.ones(1).backward());
    }

    @Test
    void sharedSubexpressionsSumTheirGradients() {
        Tensor x = Tensor.of(2f, 3f).requiresGrad(true);
        Tensor y = x.mul(x);          // x used twice by one node
        Tensor z = y.add(y).add(x);   // y used twice, x again
        z.sum().backward();
        assertArrayEquals(new float[] {9f, 13f}, x.grad().data()); // d/dx (2x^2 + x) = 4x + 1
    }
}
