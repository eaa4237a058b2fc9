package dev.phalanx.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.phalanx.kernels.Cuda;

/** --device on a machine without a GPU: cuda is refused in one line, auto trains on the CPU and says why, sim trains on the simulated device. */
class DeviceOptionTest {

    @TempDir
    Path tmp;

    private static final String RECIPE = Path.of("../conf/fashion-lenet.conf").toString();

    @Test
    void cudaWithoutAGpuExitsOneWithOneLine() {
        assumeFalse(Cuda.isAvailable(), "this machine has a GPU");
        Cli.Result r = Cli.run("train", RECIPE, "--device", "cuda", "--max-steps", "5", "--out", tmp.resolve("run").toString());
        assertEquals(1, r.code(), r.out() + r.err());
        assertEquals("no CUDA device: " + Cuda.unavailableReason() + System.lineSeparator(), r.err());
        Cli.Result bench = Cli.run("bench", "--device", "cuda", "--seconds", "0.1");
        assertEquals(1, bench.code());
        assertTrue(bench.err().startsWith("no CUDA device: "), bench.err());
    }

    @Test
    void autoTrainsOnTheCpuAndSaysWhy() {
        assumeFalse(Cuda.isAvailable(), "this machine has a GPU");
        Cli.Result r = Cli.run("train", RECIPE, "--device", "auto", "--max-steps", "5", "--out", tmp.resolve("run").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("device: cpu (no CUDA device: "), r.out());
    }

    @Test
    void anUnknownDeviceIsAnErrorNamingTheOption() {
        Cli.Result r = Cli.run("train", RECIPE, "--device", "gpu", "--out", tmp.resolve("run").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("phalanx train: --device must be cpu, cuda, cuda:N, auto, sim or sim:N (the simulated device), got 'gpu'"), r.err());
    }

    /**
     * The GPU path end to end on the simulated device: LeNet trained by SGD there (one replica in
     * this thread, then two through the actors, each on its own stream, summed on the device), the
     * checkpoints and weights written from host copies, and the weights those of the same run on
     * the cpu within the invariant's tolerance (DESIGN.md: 1e-5 relative per tensor over a few steps).
     */
    @Test
    void simTrainsOnTheSimulatedDeviceEndToEnd() throws Exception {
        Cli.Result cpu = Cli.run("train", RECIPE, "--device", "cpu", "--max-steps", "5", "--out", tmp.resolve("cpu").toString());
        assertEquals(0, cpu.code(), cpu.out() + cpu.err());
        Cli.Result sim = Cli.run("train", RECIPE, "--device", "sim", "--max-steps", "5", "--out", tmp.resolve("sim").toString());
        assertEquals(0, sim.code(), sim.out() + sim.err());
        assertTrue(sim.out().startsWith("device: sim:0 (the simulated device"), sim.out());
        assertTrue(sim.out().contains("Using 1 replica on sim:0"), sim.out());
        assertTrue(sim.out().contains("Finished Training: 5 steps"), sim.out());
        assertTrue(sim.out().contains("test accuracy"), sim.out());
        assertTrue(dev.phalanx.kernels.DeviceContexts.memoryReserved(dev.phalanx.kernels.Device.sim(0)) > 0, "the run used sim:0's memory");
        Cli.Result two = Cli.run("train", RECIPE, "--device", "sim:1", "--replicas", "2", "--max-steps", "5", "--out", tmp.resolve("two").toString());
        assertEquals(0, two.code(), two.out() + two.err());
        assertTrue(two.out().contains("Using 2 replicas on sim:1 (each on its own stream; gradients 2 replica(s) on sim:1, summed there in replica order)"),
                two.out());
        java.util.Map<String, dev.phalanx.tensor.Tensor> reference = dev.phalanx.io.SafeTensors.read(tmp.resolve("cpu/model.safetensors")).tensors();
        for (String run : new String[] {"sim", "two"}) {
            java.util.Map<String, dev.phalanx.tensor.Tensor> w = dev.phalanx.io.SafeTensors.read(tmp.resolve(run + "/model.safetensors")).tensors();
            assertEquals(reference.keySet(), w.keySet());
            for (String k : reference.keySet()) {
                float[] a = reference.get(k).data(), b = w.get(k).data();
                double diff = 0, scale = 0;
                for (int i = 0; i < a.length; i++) {
                    diff = Math.max(diff, Math.abs(a[i] - b[i]));
                    scale = Math.max(scale, Math.abs(a[i]));
                }
                assertTrue(diff / scale <= 1e-5, run + ", " + k + ": max|a-b|/max|a| = " + diff / scale);
            }
        }
    }
}
