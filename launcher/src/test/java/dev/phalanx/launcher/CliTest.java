package dev.phalanx.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;


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

    /** DESIGN.md's bounds on a run, 1 against N replicas: each epoch's mean logged loss, and the final accuracy. */
    static final double RUN_EPOCH_LOSS_TOLERANCE = 0.05;
    static final double RUN_ACCURACY_TOLERANCE_POINTS = 3.0;

    private static final Pattern LOSS_LINE = Pattern.compile("^\\[(\\d+), +\\d+\\] loss: ([0-9.]+)$", Pattern.MULTILINE);
    private static final Pattern ACCURACY_LINE = Pattern.compile("^\\[epoch (\\d+)\\] test accuracy: ([0-9.]+) %", Pattern.MULTILINE);

    /** Mean of the logged losses of each epoch, in epoch order. */
    private static List<Double> epochLosses(String out) {
        Map<Integer, List<Double>> byEpoch = new TreeMap<>();
        Matcher m = LOSS_LINE.matcher(out);
        while (m.find()) byEpoch.computeIfAbsent(Integer.parseInt(m.group(1)), e -> new ArrayList<>()).add(Double.parseDouble(m.group(2)));
        return byEpoch.values().stream().map(l -> l.stream().mapToDouble(Double::doubleValue).average().orElseThrow()).toList();
    }

    private static double finalAccuracy(String out) {
        Matcher m = ACCURACY_LINE.matcher(out);
        double last = Double.NaN;
        while (m.find()) last = Double.parseDouble(m.group(2));
        return last;
    }

    @Test
    void threeReplicasFollowTheRunOfOne() throws IOException {
        // 3 epochs of the sample at batch 30: long enough for a flipped max-pool tie to part the
        // parameters on some machines (DESIGN.md), so the run is compared by what it keeps
        Path conf = recipe("train { batch-size = 30, epochs = 3, log-every = 25, checkpoint-every = 100000 }\noptimizer.lr = 0.01\n");
        Cli.Result one = Cli.run("train", conf.toString(), "--replicas", "1", "--seed", "3", "--out", tmp.resolve("one").toString());
        Cli.Result three = Cli.run("train", conf.toString(), "--replicas", "3", "--seed", "3", "--out", tmp.resolve("three").toString());
        assertEquals(0, one.code(), one.err());
        assertEquals(0, three.code(), three.err());
        assertTrue(three.out().contains("Using 3 replicas on cpu"), three.out());
        List<Double> a = epochLosses(one.out()), b = epochLosses(three.out());
        assertEquals(3, a.size(), one.out());
        assertEquals(a.size(), b.size(), three.out());
        for (int e = 0; e < a.size(); e++) {
            assertEquals(a.get(e), b.get(e), RUN_EPOCH_LOSS_TOLERANCE * a.get(e), "mean loss of epoch " + (e + 1) + "\n" + one.out() + three.out());
        }
        double accOne = finalAccuracy(one.out()), accThree = finalAccuracy(three.out());
        assertTrue(accOne > 60, "the run learned: " + one.out());
        assertEquals(accOne, accThree, RUN_ACCURACY_TOLERANCE_POINTS, "final test accuracy\n" + one.out() + three.out());
        assertTrue(Files.isRegularFile(tmp.resolve("three/checkpoints/step-00000300/model.safetensors")));
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
        // a bare weights file, the model named
        Path bare = Files.createDirectories(tmp.resolve("bare")).resolve("weights.safetensors");
        Files.copy(run.resolve("model.safetensors"), bare);
        Cli.Result refused = Cli.run("eval", bare.toString());
        assertEquals(1, refused.code());
        assertTrue(refused.err().contains("name the recipe with --recipe, or the model with --model"), refused.err());
        Cli.Result named = Cli.run("eval", bare.toString(), "--model", "fashion-lenet", "--data-set", "fashion-mnist-sample");
        assertEquals(0, named.code(), named.err());
        assertTrue(named.out().matches("(?s).*Accuracy of the network on the 1000 test images: \\d+ %\n.*"), named.out());
        Cli.Result missing = Cli.run("eval", tmp.resolve("nothing").toString());
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("checkpoint " + tmp.resolve("nothing") + " not found"), missing.err());
    }
}
