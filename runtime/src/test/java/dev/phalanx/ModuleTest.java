package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.nn.AdaptiveAvgPool2d;
import dev.phalanx.nn.AvgPool2d;
import dev.phalanx.nn.BatchNorm2d;
import dev.phalanx.nn.Conv2d;
import dev.phalanx.nn.CrossEntropyLoss;
import dev.phalanx.nn.Dropout;
import dev.phalanx.nn.Flatten;
import dev.phalanx.nn.Linear;
import dev.phalanx.nn.MaxPool2d;
import dev.phalanx.nn.Pair;
import dev.phalanx.nn.ReLU;
import dev.phalanx.nn.Sequential;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

class ModuleTest {

    @Test
    void sequentialPrintsAsPyTorch() {
        Generator g = new Generator(0);
        Sequential s = new Sequential(new Conv2d(3, 8, Pair.of(3, 3), Pair.of(2, 2), Pair.of(1, 1), false, g), new BatchNorm2d(8), new ReLU(),
                new MaxPool2d(2), new AvgPool2d(1), new AdaptiveAvgPool2d(1), new Flatten(), new Dropout(0.5f, g), new Linear(8, 10, g));
        assertEquals("Sequential(\n"
                + "  (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), bias=False)\n"
                + "  (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n"
                + "  (2): ReLU()\n"
                + "  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
                + "  (4): AvgPool2d(kernel_size=1, stride=1, padding=0)\n"
                + "  (5): AdaptiveAvgPool2d(output_size=1)\n"
                + "  (6): Flatten(start_dim=1, end_dim=-1)\n"
                + "  (7): Dropout(p=0.5, inplace=False)\n"
                + "  (8): Linear(in_features=8, out_features=10, bias=True)\n"
                + ")", s.toString());
        assertEquals("[0.weight, 1.weight, 1.bias, 1.running_mean, 1.running_var, 1.num_batches_tracked, 8.weight, 8.bias]",
                s.stateDict().keySet().toString());
        assertEquals("[0.weight, 1.weight, 1.bias, 8.weight, 8.bias]", s.namedParameters().keySet().toString());
        Tensor out = s.forward(Tensor.randn(g, 2, 3, 8, 8));
        assertArrayEquals(new int[] {2, 10}, out.shape());
        new CrossEntropyLoss().forward(out, Tensor.ofLongs(1, 2)).backward();
        assertTrue(s.parameters().stream().allMatch(p -> p.grad() != null));
    }

    @Test
    void batchNormTrainsOnBatchStatisticsAndEvaluatesOnRunningOnes() {
        BatchNorm2d bn = new BatchNorm2d(2);
        Tensor x = Tensor.randn(new Generator(4), 8, 2, 3, 3).mul(3f).add(5f);
        Tensor y = bn.forward(x);
        assertEquals(0, y.mean().item(), 1e-5);
        assertEquals(1, y.std().item(), 0.02); // unbiased std of a normalised batch
        assertEquals(1, bn.numBatchesTracked.longData()[0]);
        float rm = bn.runningMean.data()[0];
        assertEquals(0.1f * 5, rm, 0.25f); // momentum 0.1 from 0 towards a mean near 5
        bn.eval();
        try (var s = GradMode.noGrad()) {
            Tensor z = bn.forward(x);
            float expected = (x.get(0, 0, 0, 0) - rm) / (float) Math.sqrt(bn.runningVar.data()[0] + 1e-5f);
            assertEquals(expected, z.get(0, 0, 0, 0), 1e-4);
        }
        assertEquals(1, bn.numBatchesTracked.longData()[0], "evaluation does not count batches");
    }

    @Test
    void dropoutOnlyInTraining() {
        Dropout d = new Dropout(0.5f, new Generator(1));
        Tensor x = Tensor.ones(1000);
        Tensor y = d.forward(x);
        long zeros = 0;
        for (float v : y.data()) {
            assertTrue(v == 0f || v == 2f);
            if (v == 0f) zeros++;
        }
        assertEquals(500, zeros, 60);
        d.eval();
        assertTrue(d.forward(x) == x);
    }

    @Test
    void stateDictRoundTripsAndMismatchesAreListed() {
        LeNet a = LeNet.cifar(new Generator(1)), b = LeNet.cifar(new Generator(2));
        assertNotEquals(a.fc1.weight.get(0, 0), b.fc1.weight.get(0, 0));
        Tensor before = b.fc1.weight;
        b.loadStateDict(a.stateDict());
        assertTrue(before == b.fc1.weight, "loaded in place: optimizers keep their parameters");
        assertEquals(a.fc1.weight.get(0, 0), b.fc1.weight.get(0, 0));
        Map<String, Tensor> bad = new HashMap<>(a.stateDict());
        bad.remove("fc3.bias");
        bad.put("fc4.weight", Tensor.zeros(1));
        bad.put("conv1.weight", Tensor.zeros(6, 1, 5, 5));
        String m = assertThrows(IllegalArgumentException.class, () -> b.loadStateDict(bad)).getMessage();
        assertEquals("Error(s) in loading state_dict for LeNet:\n"
                + "\tMissing key(s) in state_dict: [fc3.bias].\n"
                + "\tUnexpected key(s) in state_dict: [fc4.weight].\n"
                + "\tsize mismatch for conv1.weight: copying a param with shape [6, 1, 5, 5], the shape in current model is [6, 3, 5, 5].", m);
    }

    @Test
    void stdMeanAsInTheBlitz() {
        Tensor r = Tensor.of(new float[][] {{0.995648f, -0.2232f}, {0.3858f, -0.6593f}});
        Tensor[] sm = r.stdMean();
        assertEquals("tensor(0.1247)", sm[1].toString());
        assertEquals(Math.sqrt((Math.pow(0.995648 - 0.124737, 2) + Math.pow(-0.2232 - 0.124737, 2) + Math.pow(0.3858 - 0.124737, 2)
                + Math.pow(-0.6593 - 0.124737, 2)) / 3), sm[0].item(), 1e-5);
    }
}
