package dev.phalanx.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import dev.phalanx.io.SafeTensors;
import dev.phalanx.tensor.Tensor;

class CliTest {

    @TempDir
    Path tmp;

    private Path recipe(String body) throws IOException {
        Path f = tmp.resolve("r-" + Math.abs(body.hashCode()) + ".conf");
        Files.writeString(f, "data.set = fashion-mnist-sample\n" + body);
        return f;
    }

    @ParameterizedTest
    @ValueSource(strings = {"train", "eval", "bench", "demo", "download", "devices"})
    void everyCommandHasHelp(String command) {
        Cli.Result r = Cli.run(command, "--help");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("Usage: phalanx " + command), r.out());
    }

    @Test
    void topLevelHelpListsTheCommands() {
        Cli.Result r = Cli.run("--help");
        assertEquals(0, r.code());
        for (String c : new String[] {"train", "eval", "bench", "demo", "download", "devices"}) assertTrue(r.out().contains("  " + c), r.out());
    }

    @Test
    void aBadRecipeIsOneClearLine() throws IOException {
        Path f = recipe("train.batchsize = 4\n");
        Cli.Result r = Cli.run("train", f.toString(), "--out", tmp.resolve("x").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().startsWith("phalanx train: " + f + ": unknown key 'train.batchsize' (line 2)"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        assertEquals(2, Cli.run("train").code(), "a missing argument is a usage error");
    }

    @Test
    void demoDataParallelPrintsTheBlitzsShapes() {
        Cli.Result r = Cli.run("demo", "data-parallel", "--replicas", "8");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\tIn Model: input size [4, 5] output size [4, 2]"), r.out());
        assertTrue(r.out().contains("\tIn Model: input size [2, 5] output size [2, 2]"), r.out());
        assertTrue(r.out().contains("Outside: input size [30, 5] output_size [30, 2]"), r.out());
        assertTrue(r.out().contains("Outside: input size [10, 5] output_size [10, 2]"), r.out());
        assertEquals(3 * 8 + 5, r.out().lines().filter(l -> l.startsWith("\tIn Model")).count(), "30,30,30 on 8 replicas and 10 on 5");
    }

    @Test
    void threeReplicasWriteTheCheckpointOfOne() throws IOException {
        Path conf = recipe("train { batch-size = 10, evaluate = false, log-every = 25 }\noptimizer.lr = 0.01\n");
        Cli.Result one = Cli.run("train", conf.toString(), "--replicas", "1", "--max-steps", "50", "--seed", "1", "--out", tmp.resolve("one").toString());
        Cli.Result three = Cli.run("train", conf.toString(), "--replicas", "3", "--max-steps", "50", "--seed", "1", "--out", tmp.resolve("three").toString());
        assertEquals(0, one.code(), one.err());
        assertEquals(0, three.code(), three.err());
        assertTrue(three.out().contains("Using 3 replicas on cpu"), three.out());
        Map<String, Tensor> a = SafeTensors.read(tmp.resolve("one/checkpoints/step-00000050/model.safetensors")).tensors();
        Map<String, Tensor> b = SafeTensors.read(tmp.resolve("three/checkpoints/step-00000050/model.safetensors")).tensors();
        for (String k : a.keySet()) {
            float[] x = a.get(k).data(), y = b.get(k).data();
            for (int i = 0; i < x.length; i++) {
                assertEquals(x[i], y[i], 1e-5 * Math.max(Math.abs(x[i]), Math.abs(y[i])) + 1e-7, k + "[" + i + "]");
            }
        }
    }

    @Test
    void evalPrintsTheBlitzsAccuracyLines() throws IOException {
        Path conf = recipe("train { batch-size = 16, log-every = 100 }\noptimizer.lr = 0.01\n");
        Path run = tmp.resolve("run");
        assertEquals(0, Cli.run("train", conf.toString(), "--max-steps", "150", "--out", run.toString()).code());
        Cli.Result r = Cli.run("eval", run.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().matches("(?s).*Accuracy of the network on the 1000 test images: \\d+ %\n.*"), r.out());
        assertTrue(r.out().matches("(?s).*\nAccuracy of T-shirt/top : [ \\d]\\d %\n.*"), r.out());
        assertTrue(r.out().matches("(?s).*\nAccuracy of Ankle boot : [ \\d]\\d %\n.*"), r.out());
        assertTrue(r.out().contains("Confusion matrix (rows: true class, columns: predicted class):"), r.out());
        assertTrue(r.out().matches("(?s).*\nGroundTruth:  Ankle boot  Pullover .*\nPredicted:   .*"), r.out());
        java.awt.image.BufferedImage grid = javax.imageio.ImageIO.read(run.resolve("samples.png").toFile());
        assertEquals(8 * 30 + 2, grid.getWidth(), "make_grid: 8 images of 28 pixels and 2 of padding per row");
        assertEquals(4 * 30 + 2, grid.getHeight());
        Cli.Result missing = Cli.run("eval", tmp.resolve("nothing").toString());
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("checkpoint " + tmp.resolve("nothing") + " not found"), missing.err());
    }
}
