package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.nn.F;
import dev.phalanx.ops.BatchNormOp;
import dev.phalanx.ops.DropoutOp;
import dev.phalanx.ops.PoolOps;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * Finite-difference checks of every differentiable op: the analytic gradient of
 * L = sum(f(inputs) * R), R fixed and random, against central differences in float32.
 */
class GradCheckTest {

    private static final float EPS = 1e-2f;

    record Case(String name, Function<List<Tensor>, Tensor> f, int[][] shapes, float shift) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static Arguments c(String name, Function<List<Tensor>, Tensor> f, float shift, int[]... shapes) {
        return Arguments.of(new Case(name, f, shapes, shift));
    }

    static Stream<Arguments> cases() {
        Tensor target = Tensor.ofLongs(2, 0, 4);
        return Stream.of(
                c("add (broadcast)", in -> in.get(0).add(in.get(1)), 0, new int[] {3, 4}, new int[] {4}),
                c("sub (broadcast)", in -> in.get(0).sub(in.get(1)), 0, new int[] {2, 3, 4}, new int[] {3, 1}),
                c("mul (broadcast)", in -> in.get(0).mul(in.get(1)), 0, new int[] {3, 4}, new int[] {3, 1}),
                c("div", in -> in.get(0).div(in.get(1)), 3f, new int[] {3, 4}, new int[] {3, 4}),
                c("scalar ops", in -> in.get(0).mul(3f).add(2f).rsub(1f).div(2f), 0, new int[] {5}),
                c("pow", in -> in.get(0).pow(3f), 0, new int[] {6}),
                c("exp", in -> in.get(0).exp(), 0, new int[] {6}),
                c("log", in -> in.get(0).log(), 3f, new int[] {6}),
                c("sqrt", in -> in.get(0).sqrt(), 3f, new int[] {6}),
                c("abs", in -> in.get(0).abs(), 0, new int[] {6}),
                c("sin cos", in -> in.get(0).sin().add(in.get(0).cos()), 0, new int[] {6}),
                c("asin", in -> in.get(0).mul(0.3f).asin(), 0, new int[] {6}),
                c("tanh", in -> in.get(0).tanh(), 0, new int[] {6}),
                c("sigmoid", in -> in.get(0).sigmoid(), 0, new int[] {6}),
                c("relu", in -> in.get(0).relu(), 0, new int[] {4, 5}),
                c("matmul", in -> in.get(0).matmul(in.get(1)), 0, new int[] {3, 5}, new int[] {5, 2}),
                c("linear", in -> F.linear(in.get(0), in.get(1), in.get(2)), 0, new int[] {4, 6}, new int[] {3, 6}, new int[] {3}),
                c("conv2d stride 2 pad 1", in -> F.conv2d(in.get(0), in.get(1), in.get(2), 2, 2, 1, 1), 0,
                        new int[] {2, 2, 5, 5}, new int[] {3, 2, 3, 3}, new int[] {3}),
                c("conv2d no bias", in -> F.conv2d(in.get(0), in.get(1), null, 1, 1, 0, 0), 0, new int[] {1, 2, 4, 4}, new int[] {2, 2, 2, 2}),
                c("max_pool2d 3/2/1", in -> PoolOps.maxPool2d(in.get(0), 3, 3, 2, 2, 1, 1).output(), 0, new int[] {1, 2, 5, 5}),
                c("avg_pool2d 3/2/1", in -> PoolOps.avgPool2d(in.get(0), 3, 3, 2, 2, 1, 1), 0, new int[] {1, 2, 5, 5}),
                c("adaptive_avg_pool2d", in -> PoolOps.adaptiveAvgPool2d(in.get(0), 2, 3), 0, new int[] {2, 1, 5, 7}),
                c("log_softmax", in -> F.logSoftmax(in.get(0), 1), 0, new int[] {3, 5}),
                c("log_softmax dim 0", in -> F.logSoftmax(in.get(0), 0), 0, new int[] {3, 5}),
                c("softmax", in -> F.softmax(in.get(0), -1), 0, new int[] {3, 5}),
                c("cross_entropy", in -> F.crossEntropy(in.get(0), target), 0, new int[] {3, 5}),
                c("nll_loss", in -> F.nllLoss(F.logSoftmax(in.get(0), 1), target), 0, new int[] {3, 5}),
                c("mse_loss", in -> F.mseLoss(in.get(0), in.get(1)), 0, new int[] {3, 4}, new int[] {3, 4}),
                c("sum, mean", in -> in.get(0).sum().add(in.get(0).mean()), 0, new int[] {3, 4}),
                c("sum dim, mean dim", in -> in.get(0).sum(1, true).mul(in.get(0).mean(0, false).sum()), 0, new int[] {3, 4}),
                c("max dim", in -> in.get(0).max(1, false).values(), 0, new int[] {3, 4}),
                c("max", in -> in.get(0).max(), 0, new int[] {3, 4}),
                c("var, std", in -> in.get(0).var().add(in.get(0).std()), 0, new int[] {7}),
                c("view, permute, transpose", in -> in.get(0).view(2, 6).t().permute(1, 0).reshape(3, 4).transpose(0, 1), 0, new int[] {3, 4}),
                c("narrow, select, cat", in -> Tensor.cat(List.of(in.get(0).narrow(1, 1, 2), in.get(1), in.get(0).select(1, 0).unsqueeze(1)), 1),
                        0, new int[] {3, 4}, new int[] {3, 2}),
                c("expand", in -> in.get(0).unsqueeze(0).expand(3, -1, -1).mul(in.get(1)), 0, new int[] {2, 3}, new int[] {3, 2, 3}),
                c("strided slice of a transpose, reshape copying", in -> in.get(0).t().slice(0, 0, 4, 2).reshape(-1), 0, new int[] {3, 4}),
                c("select of a transpose, squeeze, contiguous", in -> in.get(0).t().select(1, 1).add(in.get(0).unsqueeze(1).squeeze()
                        .t().contiguous().view(-1).narrow(0, 2, 4)), 0, new int[] {3, 4}),
                c("chunk", in -> in.get(0).chunk(3, 0).get(1).mul(2f), 0, new int[] {7, 2}),
                c("batch_norm (train)", in -> BatchNormOp.apply(in.get(0), null, null, in.get(1), in.get(2), true, 0.1f, 1e-5f), 0,
                        new int[] {3, 2, 2, 2}, new int[] {2}, new int[] {2}),
                c("dropout (fixed mask)", in -> DropoutOp.apply(in.get(0), 0.4f, new Generator(5)), 0, new int[] {4, 5}));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void analyticGradientMatchesFiniteDifferences(Case c) {
        Generator gen = new Generator(c.name.hashCode());
        List<Tensor> inputs = new java.util.ArrayList<>();
        for (int[] s : c.shapes) {
            Tensor t = Tensor.randn(gen, s);
            if (c.shift != 0) t = t.abs().add(c.shift); // keep log/sqrt/div away from 0
            inputs.add(t.detach().requiresGrad(true));
        }
        Tensor out = c.f.apply(inputs);
        Tensor weights = Tensor.randn(gen, out.shape());
        out.mul(weights).sum().backward();
        for (int k = 0; k < inputs.size(); k++) {
            Tensor in = inputs.get(k);
            assertNotNull(in.grad(), c.name + ": input " + k + " got no gradient");
            float[] x = in.data();
            for (int i = 0; i < x.length; i++) {
                float saved = x[i];
                double plus, minus;
                try (var scope = GradMode.noGrad()) {
                    x[i] = saved + EPS;
                    plus = c.f.apply(inputs).mul(weights).sum().item();
                    x[i] = saved - EPS;
                    minus = c.f.apply(inputs).mul(weights).sum().item();
                }
                x[i] = saved;
                double numeric = (plus - minus) / (2 * EPS);
                double analytic = in.grad().data()[i];
                assertEquals(numeric, analytic, 2e-2 * Math.max(1, Math.abs(numeric)),
                        c.name + ": d/d input" + k + "[" + i + "]");
            }
        }
    }
}
