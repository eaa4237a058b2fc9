package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.nn.Conv2d;
import dev.phalanx.nn.Linear;
import dev.phalanx.nn.Module;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Linalg;
import dev.phalanx.tensor.Tensor;

/** The blitz's own examples, with the numbers and printouts it shows. */
class BlitzExamplesTest {

    @Test
    void meanOfThreeTimesSquareGivesFourPointFive() {
        Tensor x = Tensor.ones(2, 2).requiresGrad(true);
        assertEquals("tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)", x.toString());
        Tensor y = x.add(2f);
        assertEquals("tensor([[3., 3.],\n        [3., 3.]], grad_fn=<AddBackward0>)", y.toString());
        Tensor z = y.mul(y).mul(3f);
        Tensor out = z.mean();
        assertEquals("tensor([[27., 27.],\n        [27., 27.]], grad_fn=<MulBackward0>)", z.toString());
        assertEquals("tensor(27., grad_fn=<MeanBackward0>)", out.toString());
        out.backward();
        assertEquals("tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])", x.grad().toString());
    }

    @Test
    void doublingLoopBackpropagatedWithAVector() {
        Tensor x = Tensor.of(0.5f, 1.0f, -0.3f).requiresGrad(true); // norm 1.157: the loop doubles 10 times in all
        Tensor y = x.mul(2f);
        int doublings = 1;
        while (y.norm().item() < 1000) {
            y = y.mul(2f);
            doublings++;
        }
        assertEquals(10, doublings);
        y.backward(Tensor.of(0.1f, 1.0f, 0.0001f));
        assertEquals("tensor([1.0240e+02, 1.0240e+03, 1.0240e-01])", x.grad().toString());
        assertArrayEquals(new float[] {102.4f, 1024f, 0.1024f}, x.grad().data(), 1e-4f);
    }

    @Test
    void noGradScopeStopsRecording() {
        Tensor x = Tensor.ones(3).requiresGrad(true);
        assertTrue(x.pow(2f).requiresGrad());
        try (var scope = GradMode.noGrad()) {
            Tensor y = x.pow(2f);
            assertEquals(false, y.requiresGrad());
            assertNull(y.gradFn());
        }
        assertTrue(x.pow(2f).requiresGrad());
        assertEquals(false, x.detach().requiresGrad());
    }

    @Test
    void gradientsAccumulateUntilZeroed() {
        Tensor x = Tensor.ones(2).requiresGrad(true);
        x.mul(3f).sum().backward();
        x.mul(3f).sum().backward();
        assertArrayEquals(new float[] {6f, 6f}, x.grad().data());
        x.zeroGrad();
        assertArrayEquals(new float[] {0f, 0f}, x.grad().data());
    }

    @Test
    void tensorTourPrintsAsPyTorch() {
        assertEquals("tensor([[2., 2., 2.],\n        [2., 2., 2.]])", Tensor.ones(2, 3).mul(2f).toString());
        // the blitz printed r rounded to 4 decimals; asin is steep near 1, so r[0][0] is given one
        // more digit (0.995648 prints as 0.9956, as in the blitz)
        Tensor r = Tensor.of(new float[][] {{0.995648f, -0.2232f}, {0.3858f, -0.6593f}});
        assertEquals("tensor([[ 0.9956, -0.2232],\n        [ 0.3858, -0.6593]])", r.toString());
        assertEquals("tensor([[0.9956, 0.2232],\n        [0.3858, 0.6593]])", r.abs().toString());
        assertEquals("tensor([[ 1.4775, -0.2251],\n        [ 0.3961, -0.7199]])", r.asin().toString());
        assertEquals("tensor(-0.5703)", Linalg.det(r).toString());
        Linalg.Svd svd = Linalg.svd(r);
        assertEquals("tensor([1.1793, 0.4836])", svd.S().toString());
        // A = U diag(S) V^T
        Tensor rebuilt = svd.U().mul(svd.S()).matmul(svd.V().t());
        assertTrue(rebuilt.allClose(r, 1e-5, 1e-6), rebuilt.toString());
        assertEquals("tensor(0.9956)", r.max().toString());
        assertEquals("tensor(0.1247)", r.mean().toString());
    }

    @Test
    void numpyBridgeSharesMemory() {
        Tensor a = Tensor.ones(5);
        float[] b = a.data();
        a.add_(1f);
        assertArrayEquals(new float[] {2, 2, 2, 2, 2}, b);
        float[] c = new float[] {1, 1, 1};
        Tensor d = Tensor.of(c, 3);
        c[0] = 7;
        assertEquals(7f, d.get(0));
        assertEquals(7f, d.view(1, 3).get(0, 0), "views share storage too");
    }

    @Test
    void lenetPrintsAsThePyTorchNet() {
        Module net = new LeNet(1, 32, 10, new Generator(0));
        assertEquals("LeNet(\n"
                + "  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))\n"
                + "  (conv2): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1))\n"
                + "  (fc1): Linear(in_features=400, out_features=120, bias=True)\n"
                + "  (fc2): Linear(in_features=120, out_features=84, bias=True)\n"
                + "  (fc3): Linear(in_features=84, out_features=10, bias=True)\n"
                + ")", net.toString());
        assertEquals(10, net.parameters().size());
        assertArrayEquals(new int[] {6, 1, 5, 5}, net.parameters().get(0).shape());
        assertEquals("[conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc1.weight, fc1.bias, fc2.weight, fc2.bias, fc3.weight, fc3.bias]",
                net.stateDict().keySet().toString());
    }

    @Test
    void lenetOnARandomInputGivesOneByTenWithAddmm() {
        LeNet net = new LeNet(1, 32, 10, new Generator(1));
        Tensor out = net.forward(Tensor.randn(new Generator(2), 1, 1, 32, 32));
        assertArrayEquals(new int[] {1, 10}, out.shape());
        assertEquals("AddmmBackward0", out.gradFn().name());
        net.zeroGrad();
        out.backward(Tensor.randn(new Generator(3), 1, 10));
        assertEquals(6, net.conv1.bias.grad().numel());
    }

    @Test
    void defaultInitialisationStaysWithinPyTorchsBounds() {
        Conv2d conv = new Conv2d(3, 6, 5, new Generator(9));
        float bound = (float) (1 / Math.sqrt(3 * 5 * 5));
        for (float v : conv.weight.data()) assertTrue(Math.abs(v) <= bound);
        for (float v : conv.bias.data()) assertTrue(Math.abs(v) <= bound);
        Linear fc = new Linear(400, 120, new Generator(9));
        float fcBound = (float) (1 / Math.sqrt(400));
        float max = 0;
        for (float v : fc.weight.data()) max = Math.max(max, Math.abs(v));
        assertTrue(max <= fcBound && max > 0.9 * fcBound, "max |w| " + max + " vs bound " + fcBound);
    }
}
