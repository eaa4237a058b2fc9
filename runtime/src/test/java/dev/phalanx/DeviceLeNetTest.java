package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;
import dev.phalanx.nn.F;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * The blitz's LeNet trained on the simulated device through the ordinary API (Module.to,
 * F.crossEntropy, backward, SGD.step) gives the CPU run's losses and parameters. Not bitwise:
 * the device computes the bias after the GEMM (the CPU adds it inside), and cross entropy in one
 * fused kernel (the CPU runs log-softmax, then NLL), so float32 roundings differ in the last bits.
 */
class DeviceLeNetTest {

    /** The device: {@code sim:1} here, {@code cuda:0} in {@link DeviceLeNetGpuTest}. */
    protected Device device() {
        return Device.sim(1);
    }

    /** Relative tolerance on every loss and parameter after the steps (measured on the simulated device: 1.8e-7). */
    protected double rtol() {
        return 1e-5;
    }

    /** Absolute floor for parameters near zero, where a relative bound means nothing. */
    protected double atol() {
        return 1e-7;
    }

    @Test
    void lenetTrainsOnTheDeviceAsOnTheCpu() {
        Device sim = device();
        double RTOL = rtol(), ATOL = atol();
        LeNet cpu = LeNet.cifar(new Generator(7)), dev = LeNet.cifar(new Generator(7));
        dev.to(sim);
        SGD optCpu = new SGD(cpu.parameters(), 0.01f, 0.9f), optDev = new SGD(dev.parameters(), 0.01f, 0.9f);
        Generator data = new Generator(11);
        for (int step = 0; step < 4; step++) {
            Tensor x = Tensor.randn(data, 8, 3, 32, 32), y = Tensor.randint(data, 0, 10, 8);
            optCpu.zeroGrad();
            Tensor lossCpu = F.crossEntropy(cpu.forward(x), y);
            lossCpu.backward();
            optCpu.step();
            optDev.zeroGrad();
            Tensor lossDev = F.crossEntropy(dev.forward(x.to(sim)), y.to(sim));
            assertEquals(sim, lossDev.device());
            lossDev.backward();
            optDev.step();
            double a = lossDev.item(), b = lossCpu.item();
            assertTrue(Math.abs(a - b) <= RTOL * Math.abs(b), "step " + step + " loss: device " + a + ", cpu " + b);
        }
        Map<String, Tensor> want = cpu.stateDict();
        double worst = 0;
        for (var e : dev.stateDict().entrySet()) {
            Tensor p = e.getValue();
            assertEquals(sim, p.device(), e.getKey());
            float[] got = p.to(Device.CPU).data(), exp = want.get(e.getKey()).data();
            for (int i = 0; i < got.length; i++) {
                double err = Math.abs(got[i] - exp[i]);
                assertTrue(err <= ATOL + RTOL * Math.abs(exp[i]), e.getKey() + "[" + i + "]: device " + got[i] + ", cpu " + exp[i]);
                if (Math.abs(exp[i]) > 1e-3) worst = Math.max(worst, err / Math.abs(exp[i]));
            }
        }
        System.out.println(getClass().getSimpleName() + " on " + sim + ": largest relative parameter difference after 4 steps: " + worst);
        assertTrue(Cuda.memoryAllocated(sim) > 0 && Cuda.memoryReserved(sim) >= Cuda.memoryAllocated(sim));
    }
}
