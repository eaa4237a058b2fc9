package dev.phalanx.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.phalanx.tensor.Tensor;

/**
 * Issue #13: Adam's and AdamW's bias corrections come from {@code StrictMath.pow}, whose bits
 * Java fixes, never from {@code Math.pow}, which may differ from it by an ulp (on this project's
 * machine, JDK 17 on x86-64, {@code 1 - Math.pow(beta, t)} differs for 148 of the 200,000
 * (beta, t) below, so the first test fails with Math.pow there).
 */
class AdamBiasCorrectionTest {

    @Test
    void theBiasCorrectionIsStrictMathsEvenWhereMathPowDiffers() {
        int differing = 0;
        for (float beta : new float[] {0.9f, 0.99f, 0.999f, 0.95f}) {
            for (int t = 1; t <= 50_000; t++) {
                double strict = 1 - StrictMath.pow(beta, t);
                if (1 - Math.pow(beta, t) != strict) differing++;
                assertEquals(Double.doubleToRawLongBits(strict), Double.doubleToRawLongBits(Adam.biasCorrection(beta, t)), "beta " + beta + ", t " + t);
            }
        }
        System.out.println("AdamBiasCorrectionTest: Math.pow differed from StrictMath.pow at " + differing + " of 200000 (beta, t) on this JVM");
    }

    /** The whole update, step after step, as the documented formula with StrictMath.pow, bit for bit. */
    @Test
    void adamAndAdamWFollowTheFormulaBitForBit() {
        for (boolean decoupled : new boolean[] {false, true}) {
            float lr = 0.003f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.01f;
            float[] start = {0.5f, -1.25f, 3e-3f, 7f};
            Tensor p = Tensor.of(start.clone(), 4).requiresGrad(true);
            Adam opt = decoupled ? new AdamW(List.of(p), lr, b1, b2, eps, wd) : new Adam(List.of(p), lr, b1, b2, eps, wd);
            float[] q = start.clone(), m = new float[4], v = new float[4];
            for (int t = 1; t <= 300; t++) {
                float[] g = new float[4];
                for (int i = 0; i < 4; i++) g[i] = (float) Math.sin(t * 0.37 + i) * (i + 1);
                p.setGrad(Tensor.of(g.clone(), 4));
                opt.step();
                if (decoupled) for (int i = 0; i < 4; i++) q[i] *= 1 - lr * wd;
                double bias1 = 1 - StrictMath.pow(b1, t), bias2 = 1 - StrictMath.pow(b2, t);
                float stepSize = (float) (lr / bias1), bias2Sqrt = (float) Math.sqrt(bias2);
                for (int i = 0; i < 4; i++) {
                    float gi = decoupled ? g[i] : g[i] + wd * q[i];
                    m[i] = m[i] * b1 + (1 - b1) * gi;
                    v[i] = v[i] * b2 + (1 - b2) * gi * gi;
                    q[i] -= stepSize * (m[i] / ((float) Math.sqrt(v[i]) / bias2Sqrt + eps));
                }
                for (int i = 0; i < 4; i++) {
                    assertEquals(Float.floatToRawIntBits(q[i]), Float.floatToRawIntBits(p.data()[i]),
                            (decoupled ? "AdamW" : "Adam") + " step " + t + ", element " + i + ": " + p.data()[i] + " against " + q[i]);
                }
            }
        }
    }
}
