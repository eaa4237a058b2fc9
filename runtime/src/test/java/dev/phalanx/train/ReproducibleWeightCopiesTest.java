package dev.phalanx.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * Issue #13: the reproducible mode's linear layers keep copies of each weight in their row
 * GEMM's layouts across steps (keyed by the weight's storage and version). Whatever writes the
 * weight in place (an optimizer step, an in-place op, a write through a view of it) bumps the
 * version, so the next forward and backward see the new values: bit for bit what a weight
 * never seen before gives.
 */
class ReproducibleWeightCopiesTest {

    private static final int ROWS = 6, IN = 30, OUT = 20;

    /** y and dx of a linear layer on {@code w} in the reproducible mode, on {@code be}. */
    private static float[][] forwardBackward(CpuBackend be, Tensor x, Tensor w, Tensor b, Tensor g) {
        Tensor xg = x.clone().requiresGrad(true);
        try (var scope = Backends.use(be); var repro = Reproducible.bind(0, ROWS, ROWS)) {
            Tensor y = F.linear(xg, w, b);
            y.mul(g).sum().backward();
            return new float[][] {y.contiguousFloats().clone(), xg.grad().contiguousFloats().clone()};
        }
    }

    /** The same on a copy of w's values in a storage of its own, which no backend has seen. */
    private static float[][] fresh(CpuBackend be, Tensor x, Tensor w, Tensor b, Tensor g) {
        return forwardBackward(be, x, Tensor.of(w.contiguousFloats().clone(), w.shape()).requiresGrad(true), b, g);
    }

    @Test
    void writesToTheWeightBetweenStepsAreSeen() {
        Generator gen = new Generator(5);
        Tensor x = Tensor.randn(gen, ROWS, IN), g = Tensor.randn(gen, ROWS, OUT), b = Tensor.randn(gen, OUT);
        Tensor w = Tensor.randn(gen, OUT, IN).requiresGrad(true);
        try (CpuBackend be = CpuBackend.create(1)) {
            float[][] before = forwardBackward(be, x, w, b, g);
            check(fresh(be, x, w, b, g), forwardBackward(be, x, w, b, g), "unchanged weight, copies kept");

            SGD opt = new SGD(List.of(w), 0.1f, 0.9f);    // an optimizer step (w has a gradient from the last backward)
            opt.step();
            float[][] afterStep = forwardBackward(be, x, w, b, g);
            assertFalse(Arrays.equals(before[0], afterStep[0]), "the step changed the weight");
            check(fresh(be, x, w, b, g), afterStep, "after an optimizer step");

            try (var ng = GradMode.noGrad()) {
                w.mul_(0.5f);                               // an in-place op
            }
            check(fresh(be, x, w, b, g), forwardBackward(be, x, w, b, g), "after mul_");

            try (var ng = GradMode.noGrad()) {
                w.t().narrow(0, 3, 4).fill_(0.25);          // a write through a view of the weight
            }
            check(fresh(be, x, w, b, g), forwardBackward(be, x, w, b, g), "after a write through a view");
        }
    }

    @Test
    void aWeightThatIsAViewIsCopiedEachTime() {
        Generator gen = new Generator(6);
        Tensor x = Tensor.randn(gen, ROWS, IN), g = Tensor.randn(gen, ROWS, OUT), b = Tensor.randn(gen, OUT);
        Tensor base = Tensor.randn(gen, IN, OUT);
        try (CpuBackend be = CpuBackend.create(1)) {
            Tensor w = base.t();                            // [OUT, IN], not contiguous: its values are copied for each call
            check(fresh(be, x, w, b, g), forwardBackward(be, x, w, b, g), "a transposed view");
            try (var ng = GradMode.noGrad()) {
                base.add_(1f);
            }
            check(fresh(be, x, w, b, g), forwardBackward(be, x, w, b, g), "the view after its base changed");
        }
    }

    private static void check(float[][] want, float[][] got, String what) {
        assertArrayEquals(bits(want[0]), bits(got[0]), "y, " + what);
        assertArrayEquals(bits(want[1]), bits(got[1]), "dx, " + what);
    }

    private static int[] bits(float[] a) {
        int[] r = new int[a.length];
        for (int i = 0; i < a.length; i++) r[i] = Float.floatToRawIntBits(a[i]);
        return r;
    }
}
