package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * The autograd engine gives intermediate gradients back to the backend's buffer pool, and ReLU's
 * backward writes over a gradient the engine hands over (DESIGN.md, "Buffer reuse"). These are
 * the cases where that would go wrong if the ownership rule were: a tensor the user kept, a view
 * alive after backward, retainGraph, the caller's own upstream gradient, a retained gradient,
 * and one gradient that reaches two inputs. Every test runs more steps after the one it checks,
 * so that recycled arrays are handed out again (the test JVM fills arrays handed out by a pool
 * with NaN: BufferPool's poison mode), and arrays are large enough for the pool to keep.
 */
class BufferReuseTest {

    private static final int BATCH = 8;

    /** x [8, 3, 16, 16] through conv 3x3 (6 channels), ReLU and 2x2 max pooling: every array above the pool's minimum. */
    private static Tensor block(Tensor x, Tensor w, Tensor b) {
        return F.maxPool2d(F.relu(F.conv2d(x, w, b, 1, 1, 0, 0)), 2);
    }

    private static Tensor[] params(Generator gen) {
        return new Tensor[] {Tensor.randn(gen, 6, 3, 3, 3).requiresGrad(true), Tensor.randn(gen, 6).requiresGrad(true)};
    }

    /** A few more forward and backward passes on the same backend, to hand recycled arrays out again. */
    private static void churn(Generator gen, Tensor w, Tensor b) {
        for (int i = 0; i < 3; i++) {
            Tensor x = Tensor.randn(gen, BATCH, 3, 16, 16).requiresGrad(true);
            block(x, w, b).sum().backward();
        }
    }

    @Test
    void theEngineGivesGradientsBackToThePoolOfTheBackendInUse() {
        try (CpuBackend backend = CpuBackend.create(1); var scope = Backends.use(backend)) {
            Generator gen = new Generator(1);
            Tensor[] p = params(gen);
            assertEquals(0, backend.buffers().heldBytes());
            churn(gen, p[0], p[1]);
            assertTrue(backend.buffers().heldBytes() > 0, "no gradient array came back to the pool");
        }
        assertEquals(0, CpuBackend.serial().buffers().heldBytes(), "the shared serial backend keeps nothing");
    }

    @Test
    void tensorsTheUserKeptAndViewsOfThemAreNeverRecycled() {
        try (CpuBackend backend = CpuBackend.create(1); var scope = Backends.use(backend)) {
            Generator gen = new Generator(2);
            Tensor[] p = params(gen);
            Tensor x = Tensor.randn(gen, BATCH, 3, 16, 16).requiresGrad(true);
            Tensor conv = F.conv2d(x, p[0], p[1], 1, 1, 0, 0);
            Tensor relu = F.relu(conv);
            Tensor view = relu.view(BATCH, -1); // alive after backward
            Tensor out = F.maxPool2d(relu, 2);
            float[] convBefore = conv.contiguousFloats().clone(), reluBefore = relu.contiguousFloats().clone();
            float[] outBefore = out.contiguousFloats().clone();
            out.sum().backward();
            churn(gen, p[0], p[1]);
            assertArrayEquals(convBefore, conv.contiguousFloats());
            assertArrayEquals(reluBefore, relu.contiguousFloats());
            assertArrayEquals(reluBefore, view.contiguousFloats());
            assertArrayEquals(outBefore, out.contiguousFloats());
        }
    }

    @Test
    void theCallersUpstreamGradientIsNeitherWrittenNorRecycled() {
        try (CpuBackend backend = CpuBackend.create(1); var scope = Backends.use(backend)) {
            Generator gen = new Generator(3);
            Tensor[] p = params(gen);
            Tensor x = Tensor.randn(gen, BATCH, 3, 16, 16).requiresGrad(true);
            Tensor relu = F.relu(F.conv2d(x, p[0], p[1], 1, 1, 0, 0)); // ReLU's backward would write over a gradient it owns
            Tensor upstream = Tensor.randn(gen, relu.shape());
            float[] before = upstream.data().clone();
            relu.backward(upstream);
            churn(gen, p[0], p[1]);
            assertArrayEquals(before, upstream.data());
        }
    }

    @Test
    void retainGraphWalksTheSameSavedValuesTwice() {
        try (CpuBackend backend = CpuBackend.create(1); var scope = Backends.use(backend)) {
            Generator gen = new Generator(4);
            Tensor[] p = params(gen);
            Tensor x = Tensor.randn(gen, BATCH, 3, 16, 16).requiresGrad(true);
            Tensor loss = block(x, p[0], p[1]).sum();
            loss.backward(null, true);
            float[] once = x.grad().contiguousFloats().clone(), wOnce = p[0].grad().contiguousFloats().clone();
            churn(gen, p[0], p[1]); // hands the first walk's arrays out again; adds to p's .grad, not to x's
            x.grad().zero_();
            loss.backward(null, true);
            assertArrayEquals(once, x.grad().contiguousFloats(), "the second walk through the retained graph");
            p[0].grad().zero_();
            loss.backward();
            assertArrayEquals(wOnce, p[0].grad().contiguousFloats());
        }
    }

    @Test
    void aRetainedGradientIsACopyThatLaterStepsLeaveAlone() {
        try (CpuBackend backend = CpuBackend.create(1); var scope = Backends.use(backend)) {
            Generator gen = new Generator(5);
            Tensor[] p = params(gen);
            Tensor x = Tensor.randn(gen, BATCH, 3, 16, 16).requiresGrad(true);
            Tensor relu = F.relu(F.conv2d(x, p[0], p[1], 1, 1, 0, 0)).retainGrad();
            Tensor conv = relu; // the retained gradient is the one ReLU's backward reads, then may write over
            F.maxPool2d(relu, 2).sum().backward();
            Tensor kept = conv.grad();
            float[] before = kept.contiguousFloats().clone();
            churn(gen, p[0], p[1]);
            assertArrayEquals(before, kept.contiguousFloats());
        }
    }

    @Test
    void oneGradientReachingTwoInputsIsWrittenOverByNeither() {
        try (CpuBackend backend = CpuBackend.create(1); var scope = Backends.use(backend)) {
            Generator gen = new Generator(6);
            Tensor[] p = params(gen);
            Tensor x = Tensor.randn(gen, BATCH, 3, 16, 16).requiresGrad(true);
            Tensor conv = F.conv2d(x, p[0], p[1], 1, 1, 0, 0).retainGrad();
            // add's backward hands max pooling's (pooled) gradient to both ReLUs: neither may write over it
            Tensor sum = F.relu(conv).add(F.relu(conv.mul(-1f)));
            F.maxPool2d(sum, 2).sum().backward();
            // the gradient reaching the sum, alone: max pooling's backward of ones
            Tensor detached = sum.detach().requiresGrad(true);
            F.maxPool2d(detached, 2).sum().backward();
            float[] g = detached.grad().contiguousFloats(), c = conv.contiguousFloats(), expected = new float[g.length];
            for (int i = 0; i < g.length; i++) expected[i] = (c[i] > 0 ? g[i] : 0f) + (-c[i] > 0 ? -g[i] : 0f);
            float[] got = conv.grad().contiguousFloats().clone();
            assertArrayEquals(expected, got);
            churn(gen, p[0], p[1]);
            assertArrayEquals(got, conv.grad().contiguousFloats());
        }
    }

    @Test
    void trainingStepsGiveTheSameBitsWithAndWithoutAPool() {
        Map<String, Tensor> pooled = train(CpuBackend.create(1)), serial = train(null);
        for (String k : pooled.keySet()) {
            assertArrayEquals(serial.get(k).contiguousFloats(), pooled.get(k).contiguousFloats(), k);
        }
    }

    /** Four LeNet steps on {@code backend} (null: the serial backend, whose pool keeps nothing). */
    private static Map<String, Tensor> train(CpuBackend backend) {
        Generator gen = new Generator(7);
        LeNet net = new LeNet(3, 32, 10, new Generator(0));
        SGD opt = new SGD(net.parameters(), 0.01f, 0.9f);
        Tensor x = Tensor.randn(gen, 16, 3, 32, 32), y = Tensor.randint(gen, 0, 10, 16);
        try (var scope = backend == null ? null : Backends.use(backend)) {
            for (int s = 0; s < 4; s++) {
                opt.zeroGrad();
                F.crossEntropy(net.forward(x), y).backward();
                opt.step();
            }
        } finally {
            if (backend != null) backend.close();
        }
        return new LinkedHashMap<>(net.stateDict());
    }
}
