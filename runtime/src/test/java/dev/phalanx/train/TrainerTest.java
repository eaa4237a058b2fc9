package dev.phalanx.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.phalanx.io.SafeTensors;
import dev.phalanx.protocol.tensorboard.Event;
import dev.phalanx.tensor.Tensor;

/** Short runs on the embedded Fashion-MNIST sample: the loop, its files, resume, and stops. */
class TrainerTest {

    @TempDir
    Path tmp;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** The embedded sample, whatever is installed on the machine. */
    private Recipe recipe(String extra) throws IOException {
        return Recipe.parse("data.set = fashion-mnist-sample\ntrain { batch-size = 16, log-every = 50, checkpoint-every = 40, eval-batch-size = 500 }\n"
                + "optimizer.lr = 0.01\n" + extra, "test.conf");
    }

    private Trainer.Outcome train(Recipe r, Path runDir, boolean resume, AtomicBoolean stop) throws IOException {
        return new Trainer(r, new Trainer.Options(runDir, resume, new PrintStream(out, true), new PrintStream(out, true), false, stop, null)).run();
    }

    @Test
    void trainsAndWritesEverythingAPersonLooksAt() throws IOException {
        Path runDir = tmp.resolve("run");
        Trainer.Outcome o = train(recipe("train.max-steps = 150"), runDir, false, null);
        String log = out.toString();
        assertTrue(log.contains("Fashion-MNIST (embedded sample): 3000 training images"), log);
        assertTrue(log.contains("[1,    50] loss: ") && log.contains("[1,   150] loss: "), log);
        assertTrue(log.contains("[epoch 1] test accuracy: "), log);
        assertEquals(150, o.steps());
        assertTrue(o.lastEvaluation().accuracy() > 50, "accuracy " + o.lastEvaluation().accuracy() + " after 150 steps");
        // metrics.csv: header, three loss rows, one accuracy row
        List<String> csv = Files.readAllLines(runDir.resolve("metrics.csv"));
        assertEquals("step,epoch,loss,lr,images_per_s,test_accuracy", csv.get(0));
        assertEquals(5, csv.size(), csv.toString());
        assertTrue(csv.get(1).startsWith("50,1,"), csv.get(1));
        assertTrue(Double.parseDouble(csv.get(3).split(",")[2]) < Double.parseDouble(csv.get(1).split(",")[2]), "the loss went down: " + csv);
        // TensorBoard: TFRecord framing with masked CRC-32C, Event protos
        Path events;
        try (var s = Files.list(runDir)) {
            events = s.filter(p -> p.getFileName().toString().startsWith("events.out.tfevents.")).findFirst().orElseThrow();
        }
        List<Event> evs = readEvents(events);
        assertEquals("brain.Event:2", evs.get(0).getFileVersion());
        assertTrue(evs.stream().anyMatch(e -> e.hasSummary() && e.getSummary().getValue(0).getTag().equals("train/loss") && e.getStep() == 100));
        assertTrue(evs.stream().anyMatch(e -> e.hasSummary() && e.getSummary().getValue(0).getTag().equals("test/accuracy")));
        // report.html draws the curves as SVG
        String html = Files.readString(runDir.resolve("report.html"));
        assertTrue(html.contains("<svg") && html.contains("<path d=\"M") && html.contains("Test accuracy"), html);
        // the weights, with PyTorch's names
        Map<String, Tensor> w = SafeTensors.read(runDir.resolve("model.safetensors")).tensors();
        assertEquals("[conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc1.weight, fc1.bias, fc2.weight, fc2.bias, fc3.weight, fc3.bias]",
                w.keySet().toString());
        assertArrayEquals(new int[] {120, 256}, w.get("fc1.weight").shape());
    }

    static List<Event> readEvents(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        List<Event> out = new java.util.ArrayList<>();
        while (b.hasRemaining()) {
            byte[] len = new byte[8];
            b.get(len);
            assertEquals(TensorBoardWriter.maskedCrc(len), b.getInt(), "length CRC");
            byte[] data = new byte[(int) ByteBuffer.wrap(len).order(ByteOrder.LITTLE_ENDIAN).getLong()];
            b.get(data);
            assertEquals(TensorBoardWriter.maskedCrc(data), b.getInt(), "data CRC");
            out.add(Event.parseFrom(data));
        }
        return out;
    }

    @Test
    void resumingGivesTheParametersOfAnUninterruptedRun() throws IOException {
        Recipe full = recipe("train { max-steps = 120, evaluate = false }");
        train(full, tmp.resolve("straight"), false, null);
        // the same run stopped at step 50 (as Ctrl-C would), then resumed
        Recipe r = recipe("train { max-steps = 120, evaluate = false }");
        Trainer.Outcome half = train(recipe("train { max-steps = 50, evaluate = false }"), tmp.resolve("resumed"), false, null);
        assertEquals(50, half.steps());
        Trainer.Outcome rest = train(r, tmp.resolve("resumed"), true, null);
        assertEquals(120, rest.steps());
        assertTrue(out.toString().contains("Resuming from " + tmp.resolve("resumed").resolve("checkpoints").resolve("step-00000050")), out.toString());
        Map<String, Tensor> a = SafeTensors.read(tmp.resolve("straight/model.safetensors")).tensors();
        Map<String, Tensor> b = SafeTensors.read(tmp.resolve("resumed/model.safetensors")).tensors();
        for (String k : a.keySet()) assertArrayEquals(a.get(k).data(), b.get(k).data(), 0f, k);
    }

    @Test
    void aStopRequestSavesACheckpointFirst() throws IOException {
        AtomicBoolean stop = new AtomicBoolean(true);
        Trainer.Outcome o = train(recipe(""), tmp.resolve("stopped"), false, stop);
        assertTrue(o.interrupted());
        assertEquals(0, o.steps());
        assertTrue(Files.isDirectory(tmp.resolve("stopped/checkpoints/step-00000000")));
        assertTrue(out.toString().contains("Interrupted at step 0: checkpoint written to"), out.toString());
    }

    @Test
    void aNanLossStopsTheRunAndKeepsTheLastGoodCheckpoint() throws IOException {
        Path runDir = tmp.resolve("nan");
        Trainer.TrainingException e = assertThrows(Trainer.TrainingException.class,
                () -> train(recipe("optimizer.lr = 1e30\ntrain.checkpoint-every = 1"), runDir, false, null));
        assertTrue(e.getMessage().matches("loss is (NaN|Infinity) at step \\d+ \\(epoch 1, batch \\d+\\); training stopped\\. "
                + "The last good checkpoint is .*step-\\d+ and was left as it was\\. Try a lower learning rate \\(optimizer.lr = 1.0E30\\)\\."),
                e.getMessage());
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("at step (\\d+) ").matcher(e.getMessage());
        assertTrue(m.find(), e.getMessage());
        long failedStep = Long.parseLong(m.group(1));
        Checkpoints.Loaded last = new Checkpoints(runDir, 3, Checkpoints.WriteHook.NONE).latest().orElseThrow();
        assertTrue(e.getMessage().contains(last.dir().toString()), "the message names the latest checkpoint: " + e.getMessage());
        assertEquals(failedStep - 1, last.state().step(), "the latest checkpoint is the last step before the bad loss, complete and readable");
    }

    @Test
    void fashionMnistFallsBackToTheSampleAndSaysSo() throws IOException {
        Recipe r = Recipe.parse("train { max-steps = 2, evaluate = false }", "s.conf");
        String old = System.setProperty(dev.phalanx.data.DataSets.SYSTEM_ROOT_PROPERTY, tmp.resolve("no-system-datasets").toString());
        try {
            train(r, tmp.resolve("s"), false, null);
        } finally {
            if (old == null) System.clearProperty(dev.phalanx.data.DataSets.SYSTEM_ROOT_PROPERTY);
            else System.setProperty(dev.phalanx.data.DataSets.SYSTEM_ROOT_PROPERTY, old);
        }
        assertTrue(out.toString().contains("using the embedded sample of 3000 training and 1000 test images. For the full set: install Debian's package"),
                out.toString());
    }

    @Test
    void aMissingDataSetWithoutSampleListsWhereItLooked() throws IOException {
        Recipe r = Recipe.parse("data { set = mnist, path = \"" + tmp.resolve("nowhere") + "\" }", "m.conf");
        Trainer.TrainingException e = assertThrows(Trainer.TrainingException.class, () -> train(r, tmp.resolve("m"), false, null));
        assertTrue(e.getMessage().startsWith("MNIST not found. Looked for train-images-idx3-ubyte.gz"), e.getMessage());
        assertTrue(e.getMessage().contains(tmp.resolve("nowhere").toString()) && e.getMessage().contains("--download"), e.getMessage());
    }

    @Test
    void aCorruptDataFileIsNamedBeforeTrainingStarts() throws IOException {
        Path d = tmp.resolve("broken");
        dev.phalanx.testing.TestFiles.writeIdxSet(d, "train", 20, 1);
        dev.phalanx.testing.TestFiles.writeIdxSet(d, "t10k", 10, 2);
        Files.write(d.resolve("train-images-idx3-ubyte.gz"), "<html>404</html>".getBytes(StandardCharsets.UTF_8));
        Recipe r = Recipe.parse("data.path = \"" + d + "\"", "b.conf");
        IOException e = assertThrows(IOException.class, () -> train(r, tmp.resolve("b"), false, null));
        assertTrue(e.getMessage().startsWith(d.resolve("train-images-idx3-ubyte.gz") + ": bad magic"), e.getMessage());
        assertTrue(!Files.exists(tmp.resolve("b/checkpoints")), "nothing was trained");
    }

    private Trainer.Outcome train(Recipe r, Path runDir, java.util.OptionalLong resumeStep, boolean resume, boolean overwrite) throws IOException {
        return new Trainer(r, new Trainer.Options(runDir, resume, new PrintStream(out, true), new PrintStream(out, true), false, null, null,
                resumeStep, overwrite)).run();
    }

    private static void assertSameWeights(Path a, Path b) throws IOException {
        Map<String, Tensor> x = SafeTensors.read(a).tensors(), y = SafeTensors.read(b).tensors();
        assertEquals(x.keySet(), y.keySet());
        for (String k : x.keySet()) assertArrayEquals(x.get(k).data(), y.get(k).data(), 0f, k);
    }

    @Test
    void aRunResumedPastADamagedCheckpointEndsWithTheBitsOfAnUninterruptedOne() throws IOException {
        train(recipe("train { max-steps = 120, evaluate = false }"), tmp.resolve("straight"), false, null);
        Path run = tmp.resolve("damaged");
        train(recipe("train { max-steps = 100, evaluate = false }"), run, false, null); // checkpoints 40, 80 and the final 100
        Path newest = run.resolve("checkpoints/step-00000100/model.safetensors");
        byte[] b = Files.readAllBytes(newest);
        b[b.length / 2] ^= 1;
        Files.write(newest, b);
        out.reset();
        Trainer.Outcome o = train(recipe("train { max-steps = 120, evaluate = false }"), run, true, null);
        assertEquals(120, o.steps());
        String log = out.toString();
        assertTrue(log.contains("warning: skipped a damaged checkpoint: " + newest + ": CRC-32C"), log);
        assertTrue(log.contains("Resuming from " + run.resolve("checkpoints/step-00000080")), log);
        assertSameWeights(tmp.resolve("straight/model.safetensors"), run.resolve("model.safetensors"));
    }

    @Test
    void aFolderHoldingAnotherRunIsRefusedWithoutResumeOrOverwrite() throws IOException {
        Path run = tmp.resolve("taken");
        train(recipe("train { max-steps = 45, evaluate = false }\ntrain.seed = 1"), run, false, null);
        Recipe second = recipe("train { max-steps = 30, evaluate = false }\ntrain.seed = 2");
        Trainer.TrainingException e = assertThrows(Trainer.TrainingException.class, () -> train(second, run, false, null));
        assertEquals(run + " holds the checkpoints of another run (the newest: step-00000045): continue it with --resume, "
                + "start it over with --overwrite, or train into another folder with --out", e.getMessage());
        assertTrue(Files.isDirectory(run.resolve("checkpoints/step-00000045")), "nothing of the first run was touched");
        Trainer.Outcome o = train(second, run, java.util.OptionalLong.empty(), false, true);
        assertEquals(30, o.steps());
        try (var s = Files.list(run.resolve("checkpoints"))) {
            assertEquals(List.of("latest", "step-00000030"), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertEquals(30, new Checkpoints(run, 3, Checkpoints.WriteHook.NONE).latest().orElseThrow().state().step());
    }

    @Test
    void resumeStartsFromTheRunsOwnRecipeAndRecordsWhatChanged() throws IOException {
        Path run = tmp.resolve("changes");
        train(recipe("train { max-steps = 40, evaluate = false }\noptimizer.lr = 0.001\ntrain.seed = 5"), run, false, null);
        out.reset();
        // the recipe asked for on resume does not set the seed: the run's own (5) goes on, not the default
        Recipe asked = Recipe.parse("data.set = fashion-mnist-sample\ntrain { batch-size = 16, log-every = 50, checkpoint-every = 40, "
                + "eval-batch-size = 500, evaluate = false }\n", "asked.conf").with(Map.of("optimizer.lr", 0.5, "train.max-steps", 41));
        Trainer.Outcome o = train(asked, run, true, null);
        assertEquals(41, o.steps());
        String log = out.toString();
        assertTrue(log.contains("changed on resume: optimizer.lr 0.001 -> 0.5 (command line)"), log);
        assertTrue(log.contains("changed on resume: train.max-steps 40 -> 41 (command line)"), log);
        assertTrue(!log.contains("train.seed"), "an unset key keeps the run's value: " + log);
        assertEquals(1, log.lines().filter(l -> l.contains("optimizer.lr 0.001 -> 0.5")).count(), "printed once: " + log);
        String recorded = Files.readString(run.resolve(Trainer.RECIPE_CHANGES));
        assertTrue(recorded.contains("resumed at step 40: optimizer.lr 0.001 -> 0.5 (command line)"), recorded);
        Recipe now = Recipe.load(run.resolve("recipe.conf"));
        assertEquals(0.5f, now.lr());
        assertEquals(5, now.seed());

        Recipe otherModel = asked.with(Map.of("model", "cifar-lenet"));
        Recipe.RecipeException e = assertThrows(Recipe.RecipeException.class, () -> train(otherModel, run, true, null));
        assertEquals(run.resolve("recipe.conf") + ": cannot resume with model = cifar-lenet (the run has fashion-lenet): model and data.set "
                + "cannot change in the middle of a run; start a new run in another folder (--out)", e.getMessage());
    }

    @Test
    void aBatchSizeChangedOnResumeGoesOnFromTheSameImage() throws IOException {
        Path run = tmp.resolve("batch");
        train(recipe("train { max-steps = 10, evaluate = false, batch-size = 4 }"), run, false, null);
        out.reset();
        train(recipe("train { max-steps = 12, evaluate = false, batch-size = 8 }"), run, true, null);
        assertTrue(out.toString().contains("changed on resume: train.batch-size 4 -> 8 (test.conf line 4); epoch 1 goes on from image 40"), out.toString());
        assertTrue(out.toString().contains("(step 10, epoch 1, batch 5)"), out.toString());
    }

    @Test
    void aDamagedOnlyCheckpointIsRefusedNotStartedOver() throws IOException {
        Path run = tmp.resolve("lost-state");
        train(recipe("train { max-steps = 20, evaluate = false }"), run, false, null);
        Path state = run.resolve("checkpoints/step-00000020/state.json");
        Files.delete(state);
        Trainer.TrainingException e = assertThrows(Trainer.TrainingException.class,
                () -> train(recipe("train { max-steps = 40, evaluate = false }"), run, true, null));
        assertTrue(e.getMessage().contains(state + " is missing") && e.getMessage().contains("--overwrite"), e.getMessage());
        assertTrue(Files.isDirectory(run.resolve("checkpoints/step-00000020")), "the damaged checkpoint is kept for the user to look at");
    }

    @Test
    void aBatchLargerThanTheDataSetIsSaidOnce() throws IOException {
        train(recipe("train { max-steps = 2, evaluate = false, batch-size = 5000 }"), tmp.resolve("big"), false, null);
        String log = out.toString();
        assertEquals(1, log.lines().filter(l -> l.equals("warning: train.batch-size 5000 is larger than the 3000 training images: "
                + "every step takes the whole data set, a batch of 3000")).count(), log);
    }

    @Test
    void aNamedDataFolderWithAFileMissingIsAnErrorNamingIt() throws IOException {
        Path d = tmp.resolve("partial");
        dev.phalanx.testing.TestFiles.writeIdxSet(d, "train", 20, 1);
        dev.phalanx.testing.TestFiles.writeIdxSet(d, "t10k", 10, 2);
        Files.delete(d.resolve("t10k-labels-idx1-ubyte.gz"));
        Recipe r = Recipe.parse("data.path = \"" + d + "\"\ntrain { max-steps = 2, evaluate = false }", "p.conf");
        Trainer.TrainingException e = assertThrows(Trainer.TrainingException.class, () -> train(r, tmp.resolve("p"), false, null));
        assertEquals("Fashion-MNIST: " + d + " (data.path) lacks t10k-labels-idx1-ubyte.gz. Put the missing file there, or run with --download",
                e.getMessage());
        Recipe missing = Recipe.parse("data.path = \"" + tmp.resolve("nowhere") + "\"\ntrain { max-steps = 2, evaluate = false }", "n.conf");
        e = assertThrows(Trainer.TrainingException.class, () -> train(missing, tmp.resolve("n"), false, null));
        assertTrue(e.getMessage().contains(tmp.resolve("nowhere") + " (data.path, which does not exist"), e.getMessage());
    }
}
