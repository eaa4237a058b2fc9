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
        assertEquals("no CUDA device: " + Cuda.unavailableReason() + System.lineSeparator(), bench.err());
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

    /**
     * {@code phalanx train conf/fashion-lenet.conf --device sim --max-steps 30}: the step is captured
     * into a graph after one warm-up step and replayed (issue #9, item 5), the start-up line says so,
     * and the weights are those of the same run with {@code --cuda-graph off}, bit for bit.
     */
    @Test
    void simTrainsWithTheStepCapturedIntoAGraphAndSaysSo() throws Exception {
        Cli.Result on = Cli.run("train", RECIPE, "--device", "sim", "--max-steps", "30", "--out", tmp.resolve("graph").toString());
        assertEquals(0, on.code(), on.out() + on.err());
        assertTrue(on.out().contains("Using 1 replica on sim:0 (default mode; CUDA graph on)"), on.out());
        assertTrue(on.out().contains("Finished Training: 30 steps"), on.out());
        Cli.Result off = Cli.run("train", RECIPE, "--device", "sim", "--cuda-graph", "off", "--max-steps", "30", "--out", tmp.resolve("eager").toString());
        assertEquals(0, off.code(), off.out() + off.err());
        assertTrue(off.out().contains("CUDA graph off (--cuda-graph off)"), off.out());
        java.util.Map<String, dev.phalanx.tensor.Tensor> a = dev.phalanx.io.SafeTensors.read(tmp.resolve("graph/model.safetensors")).tensors();
        java.util.Map<String, dev.phalanx.tensor.Tensor> b = dev.phalanx.io.SafeTensors.read(tmp.resolve("eager/model.safetensors")).tensors();
        for (String k : a.keySet()) org.junit.jupiter.api.Assertions.assertArrayEquals(b.get(k).data(), a.get(k).data(), k);
        Cli.Result bad = Cli.run("train", RECIPE, "--device", "sim", "--cuda-graph", "maybe", "--max-steps", "1", "--out", tmp.resolve("bad").toString());
        assertTrue(bad.code() != 0, bad.out() + bad.err());
        assertTrue(bad.err().contains("--cuda-graph"), bad.err());
    }

    /** The confusion matrix eval prints: row c, column p counts the test images of class c predicted as p. */
    private static int[][] confusion(String evalOutput) {
        java.util.List<int[]> rows = new java.util.ArrayList<>();
        boolean in = false;
        for (String line : evalOutput.split("\\R")) {
            if (line.startsWith("Confusion matrix")) {
                in = true;
            } else if (in && line.contains("   (")) {
                String[] f = line.substring(0, line.lastIndexOf("   (")).trim().split("\\s+");
                // the class name may hold spaces: the last 10 fields are the counts
                rows.add(java.util.Arrays.stream(f, f.length - 10, f.length).mapToInt(Integer::parseInt).toArray());
            }
        }
        assertEquals(10, rows.size(), evalOutput);
        return rows.toArray(new int[0][]);
    }

    /**
     * eval on the simulated device: the model there, each batch copied up and the logits back. Its
     * accuracy per class is the cpu's: the logits agree within the invariant's tolerance, so only a
     * near tie could flip a prediction; allowed: one image per class, two in all (measured: none).
     * A GPU the run's recipe names but this machine lacks gives the cpu and a line saying why;
     * --device cuda is refused in one line.
     */
    @Test
    void evalRunsOnTheSimulatedDeviceWithTheCpusAccuracyPerClass() throws Exception {
        Path run = tmp.resolve("run");
        Cli.Result train = Cli.run("train", RECIPE, "--device", "cpu", "--batch-size", "16", "--lr", "0.01", "--max-steps", "150", "--out", run.toString());
        assertEquals(0, train.code(), train.out() + train.err());
        Cli.Result cpu = Cli.run("eval", run.toString(), "--device", "cpu");
        assertEquals(0, cpu.code(), cpu.out() + cpu.err());
        long before = dev.phalanx.kernels.DeviceContexts.memoryReserved(dev.phalanx.kernels.Device.sim(2));
        Cli.Result sim = Cli.run("eval", run.toString(), "--device", "sim:2");
        assertEquals(0, sim.code(), sim.out() + sim.err());
        assertTrue(sim.out().startsWith("device: sim:2 (the simulated device"), sim.out());
        assertTrue(dev.phalanx.kernels.DeviceContexts.memoryReserved(dev.phalanx.kernels.Device.sim(2)) > before, "the forward passes used sim:2");
        int[][] a = confusion(cpu.out()), b = confusion(sim.out());
        int moved = 0, correctA = 0, total = 0;
        for (int c = 0; c < 10; c++) {
            assertEquals(java.util.Arrays.stream(a[c]).sum(), java.util.Arrays.stream(b[c]).sum(), "images of class " + c);
            assertTrue(Math.abs(a[c][c] - b[c][c]) <= 1, "class " + c + ": cpu " + a[c][c] + " right, sim " + b[c][c] + "\n" + cpu.out() + sim.out());
            for (int p = 0; p < 10; p++) moved += Math.abs(a[c][p] - b[c][p]);
            correctA += a[c][c];
            total += java.util.Arrays.stream(a[c]).sum();
        }
        assertTrue(moved <= 4, "at most two predictions differ: " + moved / 2 + "\n" + cpu.out() + sim.out());
        // chance is 10 % (about 53 % after these 150 steps): the predictions spread over the classes, so the comparison means something
        assertTrue(correctA * 100L > 30L * total, "the model learned something: " + cpu.out());
        // the run's recipe naming a GPU this machine lacks: eval falls back to the cpu and says why
        if (!Cuda.isAvailable()) {
            java.nio.file.Files.writeString(run.resolve("recipe.conf"), "\nruntime.device = cuda\n", java.nio.file.StandardOpenOption.APPEND);
            Cli.Result fallback = Cli.run("eval", run.toString());
            assertEquals(0, fallback.code(), fallback.out() + fallback.err());
            assertTrue(fallback.out().startsWith("device: cpu (") && fallback.out().contains("runtime.device is cuda, but no CUDA device: "),
                    fallback.out());
            assertTrue(java.util.Arrays.deepEquals(a, confusion(fallback.out())), fallback.out());
            Cli.Result refused = Cli.run("eval", run.toString(), "--device", "cuda");
            assertEquals(1, refused.code());
            assertEquals("no CUDA device: " + Cuda.unavailableReason() + System.lineSeparator(), refused.err());
        }
    }

    /**
     * bench on the simulated device: the model, its optimizer state and the batch there, the host
     * waiting for the device every few steps; the device in the start-up line, the host's enqueue
     * share, the throughput last. Training, inference and two replicas on one device through the
     * actors; the reproducible mode is refused there by name.
     */
    @Test
    void benchRunsOnTheSimulatedDevice() {
        dev.phalanx.kernels.Device sim3 = dev.phalanx.kernels.Device.sim(3);
        for (String mode : new String[] {"train", "infer"}) {
            Cli.Result r = Cli.run("bench", "--device", "sim:3", "--batch-size", "4", "--seconds", "0.2", "--mode", mode, "--threads", "1");
            assertEquals(0, r.code(), r.out() + r.err());
            java.util.List<String> lines = r.out().lines().toList();
            assertTrue(lines.get(0).startsWith("device: sim:3 (the simulated device") && lines.get(0).endsWith("host side: " + cpuBackendLine()),
                    r.out());
            assertTrue(lines.get(1).startsWith("model cifar-lenet") && lines.get(1).contains(mode + ", batch 4"), r.out());
            assertTrue(r.out().matches("(?s).*\nhost enqueue: [0-9.]+ ms per step of [0-9.]+ ms \\(\\d+ %; the rest the host waits for sim:3, "
                    + "synchronising every 8 steps\\)\n.*"), r.out());
            // training: where a step's time goes by the device's clock (timing events; on sim the numbers mean nothing, the path and format do)
            String split = "device time per step \\(timing events, median of 8 steps\\): copy up [0-9.]+ ms \\(49184 bytes of batch, pinned, on the "
                    + "copy stream\\), compute [0-9.]+ ms \\(the step's first to last operation on sim:3's stream: kernels, and gaps waiting for the "
                    + "host's launches\\)";
            assertEquals(mode.equals("train"), r.out().matches("(?s).*\nhost enqueue: [^\n]*\n" + split + "\n.*"), r.out());
            assertTrue(lines.get(lines.size() - 1).matches("throughput: \\d+ images/s"), r.out());
        }
        assertTrue(dev.phalanx.kernels.DeviceContexts.memoryReserved(sim3) > 0, "the steps ran on sim:3");
        Cli.Result graph = Cli.run("bench", "--device", "sim:3", "--cuda-graph", "on", "--batch-size", "4", "--seconds", "0.2", "--threads", "1");
        assertEquals(0, graph.code(), graph.out() + graph.err());
        assertTrue(graph.out().matches("(?s).*\\nCUDA graph \\(the step captured once, one replay per step\\): [0-9.]+ ms per step, host enqueue "
                + "[0-9.]+ ms per step, \\d+ images/s: [0-9.]+x the eager steps' throughput\\nCUDA graph device time per step \\(timing events, "
                + "median of 8 steps\\): copy up [0-9.]+ ms \\(49184 bytes [^\\n]*compute [0-9.]+ ms \\(one graph replay on sim:3's stream: the kernels, launched at once\\)\\nthroughput: \\d+ images/s\\n"),
                graph.out());
        Cli.Result two = Cli.run("bench", "--device", "sim:3", "--replicas", "2", "--batch-size", "6", "--seconds", "0.2", "--threads", "1");
        assertEquals(0, two.code(), two.out() + two.err());
        assertTrue(two.out().contains("2 replicas x 1 threads; mean step") && two.out().contains("(on a device: the host's side of each"), two.out());
        assertTrue(two.out().lines().reduce((x, y) -> y).orElse("").matches("throughput: \\d+ images/s"), two.out());
        Cli.Result repro = Cli.run("bench", "--device", "sim:3", "--reproducible", "--seconds", "0.1");
        assertEquals(1, repro.code());
        assertTrue(repro.err().contains("the reproducible mode runs on the cpu only") && repro.err().contains("sim:3"), repro.err());
    }

    private static String cpuBackendLine() {
        try (dev.phalanx.kernels.cpu.CpuBackend b = dev.phalanx.kernels.cpu.CpuBackend.create(1, dev.phalanx.kernels.cpu.CpuBackend.Kernels.AUTO)) {
            return b.describe();
        }
    }
}
