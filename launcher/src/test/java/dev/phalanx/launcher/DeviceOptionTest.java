package dev.phalanx.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.phalanx.kernels.Cuda;

/** --device on a machine without a GPU: cuda is refused in one line, auto trains on the CPU and says why. */
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
        assertTrue(r.err().startsWith("phalanx train: --device must be cpu, cuda or auto, got 'gpu'"), r.err());
    }
}
