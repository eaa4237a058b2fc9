package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

import org.junit.jupiter.api.Test;

import dev.phalanx.autograd.AccumulateGrad;
import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Node;
import dev.phalanx.nn.F;
import dev.phalanx.tensor.Tensor;

/** PyTorch's autograd guard rails: freed graphs, non-leaf .grad, next_functions, in-place modification of saved tensors. */
class AutogradGuardsTest {

    @Test
    void aSecondBackwardRaisesUnlessTheGraphWasRetained() {
        Tensor x = Tensor.ones(2, 2).requiresGrad(true);
        Tensor out = x.add(2f).mul(x.add(2f)).mul(3f).mean();
        out.backward();
        IllegalStateException e = assertThrows(IllegalStateException.class, out::backward);
        assertTrue(e.getMessage().startsWith("Trying to backward through the graph a second time"), e.getMessage());
        assertEquals("tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])", x.grad().toString()); // not doubled

        Tensor y = Tensor.ones(2).requiresGrad(true);
        Tensor r = y.mul(y).sum();
        r.backward(null, true);
        r.backward();
        assertEquals("tensor([4., 4.])", y.grad().toString()); // accumulated twice, as PyTorch does with retain_graph
    }

    @Test
    void aGraphThatSavedNothingMayBeWalkedAgainAsInPyTorch() {
        Tensor a = Tensor.ones(2).requiresGrad(true);
        Tensor s = a.add(a).sum();
        s.backward();
        s.backward();
        assertEquals("tensor([4., 4.])", a.grad().toString());
    }

    @Test
    void nonLeafGradWarnsOnceAndRetainGradKeepsIt() {
        PrintStream saved = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        Tensor x = Tensor.ones(2).requiresGrad(true);
        Tensor y = x.mul(2f);
        Tensor z = x.mul(3f).retainGrad();
        y.add(z).sum().backward();
        try {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            new Thread(() -> { // a fresh thread: warnings are once per thread
                assertNull(y.grad());
                assertNull(y.grad());
            }).run();
        } finally {
            System.setErr(saved);
        }
        String text = err.toString(StandardCharsets.UTF_8);
        assertTrue(text.startsWith("UserWarning: The .grad attribute of a Tensor that is not a leaf Tensor is being accessed."), text);
        assertEquals(1, text.split("UserWarning", -1).length - 1, text);
        assertEquals("tensor([1., 1.])", z.grad().toString());
        assertEquals("tensor([5., 5.])", x.grad().toString());
    }

    @Test
    void nextFunctionsLeadToAccumulateGradAtTheLeaves() {
        Tensor w = Tensor.ones(3, 4).requiresGrad(true), b = Tensor.zeros(3).requiresGrad(true);
        Tensor x = Tensor.ones(2, 4);
        Tensor loss = F.mseLoss(F.linear(x, w, b).relu(), Tensor.zeros(2, 3));
        Node mse = loss.gradFn();
        assertEquals("MseLossBackward0", mse.name());
        Node relu = mse.nextFunctions().get(0).function();
        assertEquals("ReluBackward0", relu.name());
        assertEquals("(None, 0)", mse.nextFunctions().get(1).toString()); // the target needs no gradient
        Node addmm = relu.nextFunctions().get(0).function();
        assertEquals("AddmmBackward0", addmm.name());
        // PyTorch's order, addmm(bias, x, weight.t()): the bias first; x needs no gradient
        assertEquals("[(<AccumulateGrad>, 0), (None, 0), (<AccumulateGrad>, 0)]", addmm.nextFunctions().toString());
        assertSame(b, ((AccumulateGrad) addmm.nextFunctions().get(0).function()).variable());
        AccumulateGrad acc = (AccumulateGrad) addmm.nextFunctions().get(2).function();
        assertSame(w, acc.variable());
        assertSame(acc, w.gradAccumulator()); // one per leaf
        assertNull(w.gradFn());
    }

    @Test
    void modifyingASavedTensorInPlaceMakesBackwardRaise() {
        Tensor w = Tensor.ones(3).requiresGrad(true);
        Tensor x = Tensor.of(1, 2, 3);
        Tensor y = w.mul(x).sum();
        x.add_(1f);
        IllegalStateException e = assertThrows(IllegalStateException.class, y::backward);
        assertEquals("one of the variables needed for gradient computation has been modified by an inplace operation: "
                + "[torch.FloatTensor [3]] is at version 1; expected version 0 instead", e.getMessage());

        Tensor a = Tensor.ones(2).requiresGrad(true);
        Tensor e1 = a.exp();
        Tensor loss = e1.sum();
        try (var s = GradMode.noGrad()) {
            e1.mul_(2f); // ExpBackward0 reads its output
        }
        assertThrows(IllegalStateException.class, loss::backward);

        Tensor c = Tensor.ones(3).requiresGrad(true);
        Tensor added = c.add(x).sum(); // AddBackward0 saves nothing: modifying x is harmless
        x.add_(1f);
        added.backward();
        assertEquals("tensor([1., 1., 1.])", c.grad().toString());
    }
}
