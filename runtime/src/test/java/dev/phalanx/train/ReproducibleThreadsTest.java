package dev.phalanx.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * Issue #13: in the reproducible mode the intra-op thread count changes no bit. A batch of 100
 * is large enough that every parallel loop of the mode is split over 2 threads (images through
 * oneDNN or the GEMM, linear rows, the weight gradients' column ranges).
 */
class ReproducibleThreadsTest {

    @Test
    void twoThreadsGiveTheBitsOfOne() {
        Generator gen = new Generator(3);
        Tensor x = Tensor.randn(gen, 100, 1, 28, 28), y = Tensor.randint(gen, 0, 10, 100);
        float[][] params = null;
        float[] losses = null;
        for (int threads : new int[] {1, 2}) {
            LeNet model = new LeNet(1, 28, 10, new Generator(1));
            float[] l = new float[3];
            try (LocalSteps steps = new LocalSteps(model, p -> new SGD(p, 0.05f, 0.9f), F::crossEntropy, CpuBackend.create(threads), true)) {
                for (int s = 0; s < 3; s++) l[s] = steps.step(x, y).loss();
            }
            List<Tensor> ps = model.parameters();
            float[][] now = new float[ps.size()][];
            for (int i = 0; i < now.length; i++) now[i] = ps.get(i).data().clone();
            if (params == null) {
                params = now;
                losses = l;
            } else {
                for (int i = 0; i < now.length; i++) assertArrayEquals(bits(params[i]), bits(now[i]), "parameter " + i + " on " + threads + " threads");
                for (int s = 0; s < 3; s++) assertEquals(Float.floatToRawIntBits(losses[s]), Float.floatToRawIntBits(l[s]), "loss of step " + s);
            }
        }
    }

    private static int[] bits(float[] a) {
        int[] b = new int[a.length];
        for (int i = 0; i < a.length; i++) b[i] = Float.floatToRawIntBits(a[i]);
        return b;
    }
}
