package dev.phalanx;

import static dev.phalanx.testing.Golden.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.phalanx.kernels.Device;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.optim.RMSprop;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.testing.Golden;

/**
 * GoldenOptimTest's configurations with the parameter on the simulated device: each optimizer's
 * fused kernel against torch.optim, against the CPU rule bit for bit, and resumed from its state dict.
 */
class GoldenDeviceOptimTest {

    /** The device: {@code sim:2} here, {@code cuda:0} in {@link GoldenDeviceOptimGpuTest}. */
    protected Device device() {
        return Device.sim(2);
    }

    /**
     * Whether the device must give the CPU rule's bits: the simulated device runs the kernels' Java
     * twins; nvcc may contract a multiply and an add into one FMA, so a GPU need not.
     */
    protected boolean bitwiseWithCpu() {
        return true;
    }

    static List<org.junit.jupiter.params.provider.Arguments> configs() {
        return GoldenOptimTest.configs();
    }

    private static float[] run(Function<List<Tensor>, Optimizer> make, Device device, int steps) {
        Map<String, Tensor> g = Golden.load("optim.safetensors");
        Tensor grads = g.get("grads");
        Tensor p = g.get("p0").to(device).requiresGrad(true);
        Optimizer opt = make.apply(List.of(p));
        for (int k = 0; k < steps; k++) {
            p.setGrad(grads.select(0, k).to(device));
            opt.step();
        }
        assertEquals(device, p.device());
        return p.detach().to(Device.CPU).data();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void followsTorchOptimOnTheDevice(String name, Function<List<Tensor>, Optimizer> make) {
        Map<String, Tensor> g = Golden.load("optim.safetensors");
        Tensor expected = g.get(name);
        int steps = expected.size(0);
        float[] device = run(make, device(), steps), cpu = run(make, Device.CPU, steps);
        assertClose(name + " after " + steps + " steps on " + device(), expected.select(0, steps - 1), Tensor.of(device, device.length), 1e-6, 1e-5);
        // the kernels do the CPU rule's float32 operations in the same order (sqrtf is correctly rounded, as (float) Math.sqrt)
        if (bitwiseWithCpu()) assertTrue(Arrays.equals(cpu, device), name + ": the device kernel differs from the CPU rule in some bit");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void stateDictResumesExactlyOnTheDevice(String name, Function<List<Tensor>, Optimizer> make) {
        Map<String, Tensor> g = Golden.load("optim.safetensors");
        Tensor grads = g.get("grads");
        float[] straight = run(make, device(), grads.size(0));
        Tensor b = g.get("p0").to(device()).requiresGrad(true);
        Optimizer first = make.apply(List.of(b));
        for (int k = 0; k < 2; k++) {
            b.setGrad(grads.select(0, k).to(device()));
            first.step();
        }
        Optimizer resumed = make.apply(List.of(b));
        resumed.loadStateDict(first.stateDict());
        for (int k = 2; k < grads.size(0); k++) {
            b.setGrad(grads.select(0, k).to(device()));
            resumed.step();
        }
        assertTrue(Arrays.equals(straight, b.detach().to(Device.CPU).data()), name + " resumed from its state dict");
    }

    /** Centred RMSprop configurations (the golden file has none): plain, with momentum, with weight decay and momentum. */
    static List<org.junit.jupiter.params.provider.Arguments> centredConfigs() {
        return List.of(
                org.junit.jupiter.params.provider.Arguments.of("centred", (Function<List<Tensor>, Optimizer>) p -> new RMSprop(p, 0.01f, 0.99f, 1e-8f, 0f, 0f, true)),
                org.junit.jupiter.params.provider.Arguments.of("centred_momentum",
                        (Function<List<Tensor>, Optimizer>) p -> new RMSprop(p, 0.01f, 0.9f, 1e-8f, 0f, 0.9f, true)),
                org.junit.jupiter.params.provider.Arguments.of("centred_wd_momentum",
                        (Function<List<Tensor>, Optimizer>) p -> new RMSprop(p, 0.02f, 0.95f, 1e-6f, 0.1f, 0.5f, true)));
    }

    /** Ten steps of random gradients (one seed), with the state dict taken after the fifth and resumed by a new optimizer. */
    private static float[] centredRun(Function<List<Tensor>, Optimizer> make, Device device, boolean resumeHalfway) {
        dev.phalanx.tensor.Generator gen = new dev.phalanx.tensor.Generator(17);
        Tensor p = Tensor.randn(gen, 4, 33).to(device).requiresGrad(true);
        Optimizer opt = make.apply(List.of(p));
        for (int k = 0; k < 10; k++) {
            if (resumeHalfway && k == 5) {
                Optimizer resumed = make.apply(List.of(p));
                resumed.loadStateDict(opt.stateDict());
                opt = resumed;
            }
            p.setGrad(Tensor.randn(gen, 4, 33).to(device));
            opt.step();
        }
        assertEquals(device, p.device());
        return p.detach().to(Device.CPU).data();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("centredConfigs")
    void centredRmspropFollowsTheCpuRuleOverTenSteps(String name, Function<List<Tensor>, Optimizer> make) {
        float[] cpu = centredRun(make, Device.CPU, false), device = centredRun(make, device(), false);
        assertClose(name + " after 10 steps on " + device(), Tensor.of(cpu, cpu.length), Tensor.of(device, device.length), 0, 1e-6);
        if (bitwiseWithCpu()) assertTrue(Arrays.equals(cpu, device), name + ": the device kernel differs from the CPU rule in some bit");
        float[] resumed = centredRun(make, device(), true);
        assertTrue(Arrays.equals(device, resumed), name + " resumed from its state dict (grad_avg included) on " + device());
        double moved = 0;
        float[] start = Tensor.randn(new dev.phalanx.tensor.Generator(17), 4, 33).data();
        for (int i = 0; i < start.length; i++) moved = Math.max(moved, Math.abs(device[i] - start[i]));
        assertTrue(moved > 1e-3, name + ": the parameters moved (" + moved + ")");
    }

    /**
     * The step count lives on the parameter's device, advanced there (torch.optim's capturable=True), and checkpoints keep
     * their format: the state dict's {@code step} reads back as a float32 [1] holding the count, and a state dict of host
     * copies (a checkpoint read back) puts it on the device again, where it goes on counting.
     */
    @Test
    void theStepCountLivesOnTheDeviceAndCheckpointsKeepTheirFormat() {
        for (Function<List<Tensor>, Optimizer> make : List.<Function<List<Tensor>, Optimizer>>of(p -> new dev.phalanx.optim.Adam(p, 1e-3f),
                p -> new dev.phalanx.optim.AdamW(p, 1e-3f), p -> new RMSprop(p, 1e-3f))) {
            Tensor p = Tensor.randn(new dev.phalanx.tensor.Generator(3), 4, 5).to(device()).requiresGrad(true);
            Optimizer opt = make.apply(List.of(p));
            String name = opt.getClass().getSimpleName();
            for (int k = 0; k < 3; k++) {
                p.setGrad(Tensor.ones(4, 5).to(device()));
                opt.step();
            }
            Tensor step = opt.stateDict().get("state.0.step");
            assertEquals(device(), step.device(), name + ": the count is on the device");
            Tensor host = step.to(Device.CPU);
            assertEquals(dev.phalanx.tensor.DType.FLOAT32, host.dtype(), name);
            assertTrue(Arrays.equals(new int[] {1}, host.shape()), name);
            assertEquals(3f, host.item(), name);
            Map<String, Tensor> checkpoint = new java.util.LinkedHashMap<>();
            opt.stateDict().forEach((k, v) -> checkpoint.put(k, v.to(Device.CPU)));
            Optimizer resumed = make.apply(List.of(p));
            resumed.loadStateDict(checkpoint);
            p.setGrad(Tensor.ones(4, 5).to(device()));
            resumed.step();
            assertEquals(device(), resumed.stateDict().get("state.0.step").device(), name + ": loaded onto the device");
            assertEquals(4f, resumed.stateDict().get("state.0.step").item(), name + ": counting on from the checkpoint");
        }
    }
}
