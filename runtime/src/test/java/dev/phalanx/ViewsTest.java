package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.tensor.Tensor;

/** Views share their base's storage: strides, offsets, writes through them, and where copies happen. */
class ViewsTest {

    private static Tensor x34() {
        return Tensor.arange(12).view(3, 4);
    }

    @Test
    void viewsShareStorageAndWritesReachTheBase() {
        Tensor x = x34();
        Tensor col = x.select(1, 1); // x[:, 1]
        assertSame(x.storage(), col.storage());
        assertArrayEquals(new int[] {4}, col.stride());
        assertEquals(1, col.storageOffset());
        col.fill_(0);
        assertEquals("tensor([[ 0.,  0.,  2.,  3.],\n        [ 4.,  0.,  6.,  7.],\n        [ 8.,  0., 10., 11.]])", x.toString());

        Tensor t = x.t();
        assertSame(x.storage(), t.storage());
        t.set(-1f, 3, 0); // t[3, 0] is x[0, 3]
        assertEquals(-1f, x.get(0, 3));

        x.narrow(0, 1, 2).mul_(10f);
        assertEquals("tensor([[  0.,   0.,   2.,  -1.],\n        [ 40.,   0.,  60.,  70.],\n        [ 80.,   0., 100., 110.]])", x.toString());
        x.slice(1, 0, 4, 2).add_(Tensor.of(1, 2)); // x[:, ::2] += [1, 2]
        assertEquals("tensor([[  1.,   0.,   4.,  -1.],\n        [ 41.,   0.,  62.,  70.],\n        [ 81.,   0., 102., 110.]])", x.toString());
        x.permute(1, 0).select(0, 3).copy_(Tensor.of(7, 8, 9)); // x[:, 3] = [7, 8, 9]
        assertEquals(9f, x.get(2, 3));
        x.unsqueeze(0).squeeze(0).select(0, 0).zero_();
        assertEquals(0f, x.sum(1, false).get(0));
    }

    @Test
    void versionCounterCountsWritesThroughAnyView() {
        Tensor x = x34();
        int v = x.storage().version();
        x.select(0, 1).add_(1f);
        x.t().fill_(2);
        assertEquals(v + 2, x.storage().version());
    }

    @Test
    void viewOnNonContiguousRaisesPyTorchsErrorAndReshapeCopiesOnlyThen() {
        Tensor x = Tensor.arange(6).view(2, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> x.t().view(6));
        assertTrue(e.getMessage().startsWith("view size is not compatible with input tensor's size and stride (at least one dimension "
                + "spans across two contiguous subspaces). Use .reshape(...) instead."), e.getMessage());
        Tensor copied = x.t().reshape(6);
        assertNotSame(x.storage(), copied.storage());
        assertEquals("tensor([0., 3., 1., 4., 2., 5.])", copied.toString());
        Tensor viewed = x.reshape(3, 2);
        assertSame(x.storage(), viewed.storage());
        // a view can regroup dimensions that stay contiguous with each other, even in a non-contiguous tensor
        Tensor y = Tensor.arange(24).view(2, 3, 4).permute(1, 0, 2); // [3, 2, 4], the last dim contiguous
        Tensor split = y.view(3, 2, 2, 2);
        assertSame(y.storage(), split.storage());
        assertEquals(y.get(2, 1, 3), split.get(2, 1, 1, 1));
    }

    @Test
    void contiguousCopiesOnlyWhenTheStridesAreNotRowMajor() {
        Tensor x = x34();
        assertSame(x, x.contiguous());
        Tensor rows = x.narrow(0, 1, 2);
        assertTrue(rows.isContiguous());
        assertSame(rows, rows.contiguous());
        Tensor t = x.t();
        assertFalse(t.isContiguous());
        Tensor c = t.contiguous();
        assertTrue(c.isContiguous());
        assertNotSame(x.storage(), c.storage());
        assertArrayEquals(new float[] {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, c.data());
    }

    @Test
    void dataOfAViewSaysWhatToCall() {
        Tensor x = x34();
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> x.t().data());
        assertTrue(e.getMessage().contains("call contiguous()"), e.getMessage());
        e = assertThrows(IllegalStateException.class, () -> x.select(0, 1).data());
        assertTrue(e.getMessage().contains("call clone()"), e.getMessage());
        assertArrayEquals(new float[] {4, 5, 6, 7}, x.select(0, 1).clone().data());
        assertSame(x.data(), x.view(12).data()); // a view that is its whole storage shares the array
    }

    @Test
    void expandRepeatsWithoutCopying() {
        Tensor x = Tensor.of(1, 2, 3).unsqueeze(0).expand(2, -1);
        assertArrayEquals(new int[] {0, 1}, x.stride());
        assertEquals("tensor([[1., 2., 3.],\n        [1., 2., 3.]])", x.toString());
        assertThrows(IllegalArgumentException.class, () -> Tensor.of(1, 2, 3).expand(2, 4));
        assertEquals("tensor([2., 4., 6.])", x.sum(0, false).toString());
    }

    @Test
    void chunksAreViewsOfTheBatchAndOpsReadThem() {
        Tensor batch = Tensor.arange(10).view(5, 2);
        List<Tensor> parts = batch.chunk(2, 0);
        assertSame(batch.storage(), parts.get(1).storage());
        assertEquals(6, parts.get(1).storageOffset());
        assertEquals("tensor([[12., 14.],\n        [16., 18.]])", parts.get(1).mul(2f).toString());
        assertEquals(Tensor.cat(parts, 0).toString(), batch.toString());
    }

    @Test
    void gradientsFlowThroughViews() {
        Tensor w = Tensor.arange(6).view(2, 3).detach().requiresGrad(true);
        Tensor y = w.t().select(0, 2).mul(Tensor.of(10, 20)).sum(); // w[0, 2]*10 + w[1, 2]*20
        assertEquals("SumBackward0", y.gradFn().name());
        y.backward();
        assertEquals("tensor([[ 0.,  0., 10.],\n        [ 0.,  0., 20.]])", w.grad().toString());
        try (var s = GradMode.noGrad()) {
            assertFalse(w.select(0, 0).requiresGrad());
        }
        assertThrows(IllegalStateException.class, () -> w.select(0, 0).fill_(1));
    }
}
