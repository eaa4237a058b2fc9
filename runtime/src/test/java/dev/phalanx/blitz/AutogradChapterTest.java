package dev.phalanx.blitz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import dev.phalanx.Phalanx;
import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Node;
import dev.phalanx.nn.F;
import dev.phalanx.nn.Linear;
import dev.phalanx.tensor.Tensor;

/** The blitz's autograd chapter: the examples and their printouts, backward twice, next_functions. */
class AutogradChapterTest {

    @Test
    void meanOfThreeTimesSquare() {
        Tensor x = Tensor.ones(2, 2).requiresGrad(true);
        assertEquals("tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)", x.toString());
        Tensor y = x.add(2);
        assertEquals("tensor([[3., 3.],\n        [3., 3.]], grad_fn=<AddBackward0>)", y.toString());
        assertEquals("<AddBackward0>", y.gradFn().toString());
        assertNull(x.gradFn());
        Tensor z = y.mul(y).mul(3);
        Tensor out = z.mean();
        assertEquals("tensor([[27., 27.],\n        [27., 27.]], grad_fn=<MulBackward0>)", z.toString());
        assertEquals("tensor(27., grad_fn=<MeanBackward0>)", out.toString());
        out.backward();
        assertEquals("tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])", x.grad().toString());
        IllegalStateException e = assertThrows(IllegalStateException.class, out::backward); // backward twice
        assertTrue(e.getMessage().startsWith("Trying to backward through the graph a second time"), e.getMessage());
    }

    @Test
    void vectorJacobianProduct() {
        Phalanx.manualSeed(0);
        Tensor x = Tensor.randn(3).requiresGrad(true);
        Tensor y = x.mul(2);
        int doublings = 1;
        while (y.detach().norm().item() < 1000) {
            y = y.mul(2);
            doublings++;
        }
        Tensor v = Tensor.of(0.1f, 1.0f, 0.0001f);
        y.backward(v);
        float scale = (float) Math.pow(2, doublings);
        for (int i = 0; i < 3; i++) assertEquals(v.get(i) * scale, x.grad().get(i), 1e-6 * scale);
    }

    @Test
    void requiresGradFlagsAndNoGrad() {
        Tensor a = Tensor.randn(2, 2);
        a = a.mul(3).div(a.sub(1));
        assertFalse(a.requiresGrad());
        a.requiresGrad(true);
        assertTrue(a.requiresGrad());
        Tensor b = a.mul(a).sum();
        assertEquals("SumBackward0", b.gradFn().name());
        try (var s = GradMode.noGrad()) {
            assertFalse(a.pow(2).requiresGrad());
        }
        assertFalse(a.detach().requiresGrad());
    }

    @Test
    void nextFunctionsWalkTheGraphToTheLeaves() {
        Phalanx.manualSeed(0);
        Linear fc = new Linear(4, 2);
        Tensor input = Tensor.randn(1, 4);
        Tensor loss = F.mseLoss(fc.forward(F.relu(input)), Tensor.randn(1, 2));
        assertEquals("<MseLossBackward0>", loss.gradFn().toString());
        Node linear = loss.gradFn().nextFunctions().get(0).function();
        assertEquals("<AddmmBackward0>", linear.toString());
        assertEquals("<AccumulateGrad>", linear.nextFunctions().get(0).function().toString()); // the bias, as PyTorch prints
    }
}
