package dev.phalanx.blitz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.phalanx.Phalanx;
import dev.phalanx.nn.Conv2d;
import dev.phalanx.nn.F;
import dev.phalanx.nn.Linear;
import dev.phalanx.nn.MSELoss;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Tensor;

/**
 * The blitz's neural-network chapter: its Net written as a user would (layers built without a
 * Generator, seeded by {@code Phalanx.manualSeed}), printed, run, its loss walked back through
 * {@code next_functions}, and one SGD step; the same seed gives the same printout every run.
 */
class NeuralNetworksChapterTest {

    /** The blitz's Net, fields registered in the constructor (dev.phalanx.nn.Module, not java.lang.Module). */
    static final class Net extends dev.phalanx.nn.Module {
        final Conv2d conv1, conv2;
        final Linear fc1, fc2, fc3;

        Net() {
            conv1 = register("conv1", new Conv2d(1, 6, 5));
            conv2 = register("conv2", new Conv2d(6, 16, 5));
            fc1 = register("fc1", new Linear(16 * 5 * 5, 120));
            fc2 = register("fc2", new Linear(120, 84));
            fc3 = register("fc3", new Linear(84, 10));
        }

        @Override
        public Tensor forward(Tensor x) {
            x = F.maxPool2d(F.relu(conv1.forward(x)), 2);
            x = F.maxPool2d(F.relu(conv2.forward(x)), 2);
            x = x.flatten(1);
            x = F.relu(fc1.forward(x));
            x = F.relu(fc2.forward(x));
            return fc3.forward(x);
        }
    }

    /** The chapter's prints, as lines. */
    private static List<String> chapter() {
        List<String> out = new ArrayList<>();
        Phalanx.manualSeed(1);
        Net net = new Net();
        out.add(net.toString());
        List<Tensor> params = net.parameters();
        out.add(String.valueOf(params.size()));
        out.add(params.get(0).size().toString());
        Tensor input = Tensor.randn(1, 1, 32, 32);
        Tensor output = net.forward(input);
        out.add(output.toString());
        Tensor target = Tensor.randn(10).view(1, -1);
        Tensor loss = new MSELoss().forward(output, target);
        out.add(loss.toString());
        out.add(loss.gradFn().toString());
        out.add(loss.gradFn().nextFunctions().get(0).function().toString());
        out.add(loss.gradFn().nextFunctions().get(0).function().nextFunctions().get(0).function().toString());
        net.zeroGrad();
        out.add("conv1.bias.grad before backward " + net.conv1.bias.grad());
        loss.backward();
        out.add("conv1.bias.grad after backward " + net.conv1.bias.grad());
        new SGD(net.parameters(), 0.01f).step();
        out.add(new MSELoss().forward(net.forward(input), target).toString());
        return out;
    }

    @Test
    void printsWhatTheBlitzPrintsAndTheSeedMakesItRepeat() {
        List<String> first = chapter();
        assertEquals("Net(\n  (conv1): Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1))\n  (conv2): Conv2d(6, 16, kernel_size=(5, 5), stride=(1, 1))\n"
                + "  (fc1): Linear(in_features=400, out_features=120, bias=True)\n  (fc2): Linear(in_features=120, out_features=84, bias=True)\n"
                + "  (fc3): Linear(in_features=84, out_features=10, bias=True)\n)", first.get(0));
        assertEquals("10", first.get(1));
        assertEquals("torch.Size([6, 1, 5, 5])", first.get(2));
        assertTrue(first.get(3).endsWith(", grad_fn=<AddmmBackward0>)"), first.get(3));
        assertTrue(first.get(4).endsWith(", grad_fn=<MseLossBackward0>)"), first.get(4));
        assertEquals("<MseLossBackward0>", first.get(5));
        assertEquals("<AddmmBackward0>", first.get(6));
        assertEquals("<AccumulateGrad>", first.get(7));
        assertEquals("conv1.bias.grad before backward null", first.get(8));
        assertTrue(first.get(9).startsWith("conv1.bias.grad after backward tensor(["), first.get(9));
        assertNotEquals(first.get(4), first.get(10)); // the step changed the loss
        assertEquals(first, chapter()); // manualSeed: the same numbers every run
    }

    @Test
    void aLayerKeptInAFieldButNotRegisteredIsReported() {
        class Forgetful extends dev.phalanx.nn.Module {
            final Linear fc = new Linear(2, 2); // never registered

            @Override
            public Tensor forward(Tensor x) {
                return fc.forward(x);
            }
        }
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> new Forgetful().parameters());
        assertEquals("Forgetful.fc holds a Linear that was never registered, so parameters() and the optimizer would miss it; in the "
                + "constructor write fc = register(\"fc\", ...)", e.getMessage());
    }
}
