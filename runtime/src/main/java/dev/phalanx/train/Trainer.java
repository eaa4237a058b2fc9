package dev.phalanx.train;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.atomic.AtomicBoolean;

import dev.phalanx.bench.ModelZoo;
import dev.phalanx.data.Batch;
import dev.phalanx.data.DataLoader;
import dev.phalanx.data.DataSets;
import dev.phalanx.data.DatasetNotFoundException;
import dev.phalanx.data.Downloader;
import dev.phalanx.data.ImageDataset;
import dev.phalanx.data.Transform;
import dev.phalanx.io.AtomicFiles;
import dev.phalanx.io.SafeTensors;
import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceChoice;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.nn.Module;
import dev.phalanx.optim.Adam;
import dev.phalanx.optim.AdamW;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.optim.RMSprop;
import dev.phalanx.optim.SGD;
import dev.phalanx.parallel.DataParallel;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * Trains a recipe into a run folder: the blitz's loop (loss lines every N mini-batches), a
 * progress bar on terminals, checkpoints every N steps and at the end, test accuracy after
 * each epoch, metrics, and resume from the latest checkpoint. Stops cleanly when asked
 * (Ctrl-C), saving a checkpoint first; stops on a NaN or infinite loss without saving it.
 */
public final class Trainer {

    /**
     * What the caller decides: where, whether to resume (and from which step: empty for the newest
     * checkpoint that verifies), whether to start over in a folder that holds another run, where
     * output goes, and the stop flag; a service also gives where the steps run ({@code runners},
     * default {@link #runner}) and who watches the metrics ({@code listener}).
     */
    public record Options(Path runDir, boolean resume, PrintStream out, PrintStream err, boolean terminal,
                          AtomicBoolean stopRequested, Checkpoints.WriteHook writeHook, OptionalLong resumeStep, boolean overwrite,
                          RunnerFactory runners, Metrics.Listener listener) {
        public Options {
            if (stopRequested == null) stopRequested = new AtomicBoolean();
            if (writeHook == null) writeHook = Checkpoints.WriteHook.NONE;
            if (resumeStep == null) resumeStep = OptionalLong.empty();
            if (resumeStep.isPresent()) resume = true;
            if (resume && overwrite) throw new IllegalArgumentException("--resume and --overwrite exclude each other: continue the run, or start it over");
            if (runners == null) {
                PrintStream notes = out;
                runners = (r, train) -> runner(r, notes);
            }
            if (listener == null) listener = Metrics.Listener.NONE;
        }

        public Options(Path runDir, boolean resume, PrintStream out, PrintStream err, boolean terminal,
                       AtomicBoolean stopRequested, Checkpoints.WriteHook writeHook) {
            this(runDir, resume, out, err, terminal, stopRequested, writeHook, OptionalLong.empty(), false, null, null);
        }

        public Options(Path runDir, boolean resume, PrintStream out, PrintStream err, boolean terminal,
                       AtomicBoolean stopRequested, Checkpoints.WriteHook writeHook, OptionalLong resumeStep, boolean overwrite) {
            this(runDir, resume, out, err, terminal, stopRequested, writeHook, resumeStep, overwrite, null, null);
        }

        public Options(Path runDir, boolean resume, PrintStream out, PrintStream err, boolean terminal,
                       AtomicBoolean stopRequested, Checkpoints.WriteHook writeHook, RunnerFactory runners,
                       Metrics.Listener listener) {
            this(runDir, resume, out, err, terminal, stopRequested, writeHook, OptionalLong.empty(), false, runners, listener);
        }
    }

    /** How a run ended. */
    public record Outcome(long steps, TrainState state, Evaluation lastEvaluation, Path checkpoint, boolean interrupted) { }

    /** A run that could not go on; the message says why and what was kept. */
    public static final class TrainingException extends RuntimeException {
        public TrainingException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** The run folder's record of the values a resume changed, one line per change. */
    public static final String RECIPE_CHANGES = "recipe-changes.log";

    /** Where the steps run, given the recipe and its training set: a service or cluster mode puts its own runner here. */
    public interface RunnerFactory {
        StepRunner create(Recipe recipe, ImageDataset train) throws Exception;
    }

    private Recipe recipe; // the run's own recipe once a resume has merged it in
    private final Options o;
    private RunnerFactory runners;

    public Trainer(Recipe recipe, Options options) {
        this.recipe = recipe;
        this.o = options;
        this.runners = options.runners();
    }

    /** The data set's train or test split, as the recipe says: found, downloaded, or the embedded sample. */
    public static ImageDataset data(Recipe recipe, boolean train, PrintStream log) throws IOException {
        DataSets.Info info = DataSets.info(recipe.dataSet());
        if (!recipe.mirror().isEmpty()) info = info.withMirror(recipe.mirror());
        Transform transform = Transform.compose(List.of(Transform.toTensor(), Transform.normalize(recipe.mean(), recipe.std())));
        if (info == DataSets.FASHION_MNIST_SAMPLE) {
            ImageDataset sample = DataSets.loadSample(train, transform);
            if (train) log.println(info.title() + ": " + sample.size() + " training images");
            return sample;
        }
        Path configured = recipe.dataPath().isEmpty() ? null : Path.of(recipe.dataPath());
        Path dir;
        try {
            dir = DataSets.locate(info, configured);
        } catch (DatasetNotFoundException e) {
            if (recipe.download()) {
                Path target = configured != null ? configured : Path.of("data", info.name());
                dir = new Downloader(log).fetch(info, target);
            } else if (recipe.allowSample() && !e.named() && info.name().equals(DataSets.FASHION_MNIST.name())) {
                if (train) {
                    log.println(info.title() + " not found (looked in " + String.join(", ", e.searched().stream().map(Path::toString).toList())
                            + "): using the embedded sample of 3000 training and 1000 test images. For the full set: " + info.howToGet() + ".");
                }
                return DataSets.loadSample(train, transform);
            } else {
                throw new TrainingException(e.getMessage(), e);
            }
        }
        ImageDataset d = DataSets.load(info, dir, train, transform);
        if (train) log.println(info.title() + " from " + dir + " (" + d.size() + " training images)");
        return d;
    }

    public static Optimizer optimizer(Recipe r, List<Tensor> params) {
        return switch (r.optimizer()) {
            case "sgd" -> new SGD(params, r.lr(), r.momentum(), r.dampening(), r.weightDecay(), r.nesterov());
            case "adam" -> new Adam(params, r.lr(), r.beta1(), r.beta2(), r.eps(), r.weightDecay());
            case "adamw" -> new AdamW(params, r.lr(), r.beta1(), r.beta2(), r.eps(), r.weightDecay());
            case "rmsprop" -> new RMSprop(params, r.lr(), r.alpha(), r.eps(), r.weightDecay(), r.momentum(), false);
            default -> throw new IllegalArgumentException("unknown optimizer " + r.optimizer());
        };
    }

    /** One replica in this thread, or several through the actor runtime, on the devices of {@link #devices}. */
    public static StepRunner runner(Recipe r) {
        return runner(r, System.out);
    }

    /** As {@link #runner(Recipe)}; a line about the CUDA graph turning off during the run goes to {@code notes}. */
    public static StepRunner runner(Recipe r, PrintStream notes) {
        ModelZoo.Spec spec = ModelZoo.get(r.model());
        List<Device> devices = devices(r);
        if (devices.size() == 1) {
            Device device = devices.get(0);
            if (r.reproducible() && !device.isCpu()) {
                throw new IllegalArgumentException("the reproducible mode runs on the cpu only (its sample-by-sample kernels have no " + device
                        + " version): train with --device cpu, or without --reproducible");
            }
            CpuBackend backend = CpuBackend.create(r.threads(), r.kernels());
            return new LocalSteps(spec.build(new Generator(r.seed())), p -> optimizer(r, p), F::crossEntropy, backend, r.reproducible(), device,
                    r.cudaGraph(), notes::println);
        }
        return new ParallelSteps(parallel(r).build(), backendName(r));
    }

    /**
     * The device of each replica: the recipe's {@code runtime.device} ({@code --device} puts it
     * there; default {@code auto}) resolved on this machine ({@link DeviceChoice}), with
     * {@code runtime.replicas} replicas, or one per GPU when the run spans several and did not set
     * a count. The reproducible mode, which runs on the cpu only, keeps {@code auto} on the cpu.
     */
    public static List<Device> devices(Recipe r) {
        String text = r.config().hasPath("runtime.device") ? r.config().getString("runtime.device") : "auto";
        DeviceChoice.Requested requested = DeviceChoice.parse(text, r.source() + ": runtime.device");
        if (r.reproducible() && requested.kind() == DeviceChoice.Requested.Kind.AUTO) requested = DeviceChoice.Requested.CPU;
        return DeviceChoice.resolve(requested).placement(r.replicas(), r.config().hasPath("runtime.replicas"));
    }

    /** The recipe's data-parallel runtime, to build, or to spawn as an actor ({@code spec()}, {@code settings()}). */
    public static DataParallel.Builder parallel(Recipe r) {
        ModelZoo.Spec spec = ModelZoo.get(r.model());
        return DataParallel.builder(() -> spec.build(new Generator(r.seed())))
                .devices(devices(r)).threadsPerReplica(r.threads()).kernels(r.kernels())
                .optimizer(p -> optimizer(r, p)).loss(F::crossEntropy)
                .stepTimeout(r.stepTimeout()).checksumEvery(r.checksumEvery()).reproducible(r.reproducible())
                .cudaGraph(r.cudaGraph()); // replicas sharing one device capture their step together (DeviceStepGraph)
    }

    /** Which arithmetic mode runs, for the start-up line. */
    public static String modeName(boolean reproducible) {
        return reproducible ? "reproducible mode: bitwise the same for any replica count" : "default mode";
    }

    /** What each replica's CPU backend is, and the mode, for the start-up line. */
    public static String backendName(Recipe r) {
        try (CpuBackend b = CpuBackend.create(r.threads(), r.kernels())) {
            return b.describe() + ", " + modeName(r.reproducible());
        }
    }

    /** Runs the steps through {@code factory} instead of {@link #runner(Recipe)}. */
    public Trainer withRunner(RunnerFactory factory) {
        this.runners = factory;
        return this;
    }

    private StepRunner startRunner(ImageDataset train) throws IOException {
        try {
            return runners.create(recipe, train);
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new TrainingException(e.getMessage(), e);
        }
    }

    public Outcome run() throws IOException {
        try (RunFolder folder = RunFolder.lock(o.runDir())) {
            Checkpoints checkpoints = new Checkpoints(o.runDir(), recipe.keepCheckpoints(), o.writeHook());
            for (Path p : checkpoints.sweep()) o.err().println("removed " + p + ", left by a run that was killed while writing a checkpoint");
            folder.sweep();
            Checkpoints.Loaded resumeFrom = null;
            if (o.resume()) {
                resumeFrom = resumePoint(checkpoints);
            } else if (o.overwrite()) {
                List<Path> removed = folder.clearOutputs(checkpoints);
                if (!removed.isEmpty()) o.out().println("--overwrite: deleted the earlier run's " + String.join(", ", removed.stream()
                        .map(p -> o.runDir().relativize(p).toString()).toList()) + " in " + o.runDir());
            } else if (checkpoints.any()) {
                throw new TrainingException(o.runDir() + " holds the checkpoints of another run (the newest: "
                        + checkpoints.stepsNewestFirst().get(0).getFileName() + "): continue it with --resume, start it over with --overwrite, "
                        + "or train into another folder with --out", null);
            }
            return run(checkpoints, resumeFrom);
        }
    }

    /** The checkpoint a resume starts from, with the run's own recipe merged in; null when the folder has none yet. */
    private Checkpoints.Loaded resumePoint(Checkpoints checkpoints) throws IOException {
        Optional<Checkpoints.Loaded> found;
        try {
            found = checkpoints.resume(o.resumeStep(), w -> o.err().println("warning: " + w));
        } catch (Checkpoints.DamagedException e) {
            throw new TrainingException(e.getMessage(), e);
        }
        if (found.isEmpty()) {
            o.out().println("Nothing to resume in " + checkpoints.folder() + ": starting from the beginning");
            return null;
        }
        Checkpoints.Loaded last = found.get();
        checkpoints.supersedeAfter(last.state().step(), m -> o.out().println("Resuming from an earlier step: " + m));
        Path runRecipe = o.runDir().resolve("recipe.conf");
        if (!Files.isRegularFile(runRecipe)) return last;
        Recipe own = Recipe.load(runRecipe);
        List<Recipe.Change> changes = new ArrayList<>();
        Recipe merged = recipe.continuing(own, changes);
        TrainState state = last.state();
        List<String> lines = new ArrayList<>();
        for (Recipe.Change c : changes) {
            String line = c.toString();
            if (c.key().equals("train.batch-size") && own.batchSize() != merged.batchSize()) {
                // the epoch goes on from the same image: the data order depends only on (seed, epoch)
                long image = (long) state.batch() * own.batchSize();
                int batch = (int) (image / merged.batchSize());
                state = new TrainState(state.step(), state.epoch(), batch, state.runningLoss(), state.runningCount(), state.images(), state.seed());
                line += "; epoch " + (state.epoch() + 1) + " goes on from image " + (long) batch * merged.batchSize();
            }
            lines.add(line);
            o.out().println("changed on resume: " + line);
        }
        if (!lines.isEmpty()) {
            StringBuilder log = new StringBuilder();
            for (String l : lines) log.append(java.time.Instant.now()).append(" resumed at step ").append(state.step()).append(": ").append(l).append('\n');
            Files.writeString(o.runDir().resolve(RECIPE_CHANGES), log.toString(), StandardCharsets.UTF_8,
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        }
        recipe = merged;
        return new Checkpoints.Loaded(last.dir(), last.snapshot(), state);
    }

    private Outcome run(Checkpoints checkpoints, Checkpoints.Loaded resumeFrom) throws IOException {
        ImageDataset train = data(recipe, true, o.out());
        if (recipe.batchSize() > train.size()) {
            o.err().println("warning: train.batch-size " + recipe.batchSize() + " is larger than the " + train.size()
                    + " training images: every step takes the whole data set, a batch of " + train.size());
        }
        ImageDataset test = recipe.evaluate() ? data(recipe, false, o.out()) : null;
        checkpoints = new Checkpoints(o.runDir(), recipe.keepCheckpoints(), o.writeHook());
        TrainState state = TrainState.start(recipe.seed());
        try (StepRunner runner = startRunner(train);
             DataLoader loader = new DataLoader(train, recipe.batchSize(), recipe.shuffle(), recipe.seed(), false, recipe.workers(), 4);
             DataLoader testLoader = test == null ? null : new DataLoader(test, recipe.evalBatchSize(), false, 0, false, recipe.workers(), 2)) {
            o.out().println(runner.describe());
            if (resumeFrom != null) {
                runner.load(resumeFrom.snapshot());
                state = resumeFrom.state();
                o.out().println("Resuming from " + resumeFrom.dir() + " (step " + state.step() + ", epoch " + (state.epoch() + 1)
                        + ", batch " + state.batch() + ")");
            }
            AtomicFiles.writeBytes(o.runDir().resolve("recipe.conf"), recipe.render().getBytes(StandardCharsets.UTF_8));
            try (Metrics metrics = new Metrics(o.runDir(), recipe.name() + " (" + recipe.model() + " on " + recipe.dataSet() + ")", state.step(), o.listener())) {
                return loop(runner, loader, testLoader, checkpoints, metrics, state);
            }
        }
    }

    private Outcome loop(StepRunner runner, DataLoader loader, DataLoader testLoader, Checkpoints checkpoints, Metrics metrics,
                         TrainState start) throws IOException {
        ProgressBar bar = new ProgressBar(o.err(), o.terminal());
        int batches = loader.batchesPerEpoch();
        long step = start.step(), images = start.images();
        // the losses of enqueued steps, read only where a sum is needed (issue #9: no host synchronisation per step)
        StepLosses losses = new StepLosses(start.runningLoss(), start.runningCount());
        long totalSteps = (long) batches * recipe.epochs();
        if (recipe.maxSteps() > 0) totalSteps = Math.min(totalSteps, recipe.maxSteps());
        Path[] lastCheckpoint = {checkpoints.latestDir().orElse(null)};
        Evaluation evaluation = null;
        long intervalStart = System.nanoTime(), intervalImages = 0;
        long runStart = System.nanoTime(), runStartStep = step;
        int epoch = start.epoch(), batchIndex = start.batch();
        boolean done = step >= totalSteps;
        for (; epoch < recipe.epochs() && !done; epoch++, batchIndex = 0) {
            try (DataLoader.Epoch it = loader.epoch(epoch, batchIndex)) {
                for (Batch b : it) {
                    if (o.stopRequested().get()) {
                        bar.clear();
                        settle(losses, bar, lastCheckpoint[0]);
                        TrainState s = new TrainState(step, epoch, b.index(), losses.running, losses.count, images, recipe.seed());
                        Path cp = save(checkpoints, runner, s, "interrupted");
                        o.out().println("Interrupted at step " + step + ": checkpoint written to " + cp + "; continue with --resume");
                        return new Outcome(step, s, evaluation, cp, true);
                    }
                    StepRunner.Result r = runner.step(epoch, b);
                    step++;
                    images += b.size();
                    intervalImages += b.size();
                    batchIndex = b.index() + 1;
                    losses.add(r, step, epoch, b.index());
                    boolean logLine = batchIndex % recipe.logEvery() == 0, metricsRow = step % recipe.metricsEvery() == 0;
                    boolean checkpoint = step % recipe.checkpointEvery() == 0 && step < totalSteps;
                    if (logLine || metricsRow || checkpoint || step >= totalSteps) settle(losses, bar, lastCheckpoint[0]);
                    if (logLine) {
                        bar.clear();
                        o.out().printf(Locale.ROOT, "[%d, %5d] loss: %.3f%n", epoch + 1, batchIndex, losses.running / losses.count);
                        losses.running = 0;
                        losses.count = 0;
                    }
                    if (metricsRow) {
                        double secs = (System.nanoTime() - intervalStart) / 1e9;
                        metrics.step(step, epoch + 1, losses.metricsLoss / losses.metricsCount, recipe.lr(), intervalImages / Math.max(secs, 1e-9));
                        losses.metricsLoss = 0;
                        losses.metricsCount = 0;
                        intervalStart = System.nanoTime();
                        intervalImages = 0;
                    }
                    if (checkpoint) {
                        lastCheckpoint[0] = save(checkpoints, runner, new TrainState(step, epoch, batchIndex, losses.running, losses.count, images,
                                recipe.seed()), null);
                    }
                    double elapsed = (System.nanoTime() - runStart) / 1e9;
                    double perStep = elapsed / Math.max(1, step - runStartStep);
                    // the bar reads the losses only when it draws (at most five times a second)
                    bar.update(epoch + 1, recipe.epochs(), batchIndex, batches, () -> {
                                settle(losses, bar, lastCheckpoint[0]);
                                return losses.last;
                            }, (step - runStartStep) * (double) recipe.batchSize() / Math.max(elapsed, 1e-9),
                            perStep * (totalSteps - step));
                    if (step >= totalSteps) {
                        done = true;
                        break;
                    }
                }
            }
            bar.clear();
            settle(losses, bar, lastCheckpoint[0]);
            if (testLoader != null && (batchIndex >= batches || done)) {
                evaluation = Evaluation.run(runner::forward, testLoader, testLoader.dataset().classes());
                o.out().printf(Locale.ROOT, "[epoch %d] test accuracy: %.2f %% (%d/%d)%n", epoch + 1, evaluation.accuracy(), evaluation.correct(),
                        evaluation.total());
                metrics.epoch(step, epoch + 1, evaluation);
            }
            if (done && batchIndex < batches) break; // stopped mid-epoch by max-steps: the state keeps this epoch
        }
        settle(losses, bar, lastCheckpoint[0]);
        // a finished epoch left the loop with epoch+1 and batch 0; a stop by max-steps, with the position reached
        TrainState end = new TrainState(step, epoch, batchIndex, losses.running, losses.count, images, recipe.seed());
        Path cp = save(checkpoints, runner, end, "final"); // periodic checkpoints skip the last step: this is its only one
        FinalWeights.write(o.runDir(), cp);
        o.out().println("Finished Training: " + step + " steps; checkpoint " + cp + "; weights " + o.runDir().resolve("model.safetensors"));
        return new Outcome(step, end, evaluation, cp, false);
    }

    /** Reads the enqueued steps' losses into the sums; a loss that is not finite stops training, naming its step. */
    private void settle(StepLosses losses, ProgressBar bar, Path lastCheckpoint) {
        StepLosses.NonFinite bad = losses.settle();
        if (bad == null) return;
        bar.clear();
        StepLosses.Step s = bad.step();
        throw new TrainingException("loss is " + bad.loss() + " at step " + s.step() + " (epoch " + (s.epoch() + 1) + ", batch "
                + (s.batch() + 1) + "); training stopped. " + (lastCheckpoint != null
                ? "The last good checkpoint is " + lastCheckpoint + " and was left as it was."
                : "No checkpoint had been written yet.")
                + " Try a lower learning rate (optimizer.lr = " + recipe.lr() + ").", null);
    }

    private Path save(Checkpoints checkpoints, StepRunner runner, TrainState s, String why) {
        try {
            return checkpoints.write(runner.snapshot(), s);
        } catch (IOException e) {
            Optional<Path> previous;
            try {
                previous = checkpoints.latestDir();
            } catch (IOException e2) {
                previous = Optional.empty();
            }
            String kept = previous.map(p -> "the previous checkpoint " + p + " is intact").orElse("no earlier checkpoint exists");
            if (why == null) { // a periodic checkpoint: warn and go on training
                o.err().println("warning: could not write the checkpoint of step " + s.step() + " (" + e.getMessage() + "); " + kept
                        + "; training goes on");
                return previous.orElse(null);
            }
            throw new TrainingException("could not write the " + why + " checkpoint of step " + s.step() + " (" + e.getMessage() + "); "
                    + kept, e);
        }
    }

    /** The final weights, also at the top of the run folder, for users and for PyTorch. */
    static final class FinalWeights {
        private FinalWeights() { }

        static void write(Path runDir, Path checkpoint) throws IOException {
            byte[] bytes = Files.readAllBytes(checkpoint.resolve(Checkpoints.MODEL));
            SafeTensors.parse(bytes, checkpoint.toString()); // never publish a file that does not read back
            AtomicFiles.writeBytes(runDir.resolve("model.safetensors"), bytes);
        }
    }

    /**
     * Builds the recipe's model with the weights of a checkpoint folder (verified against its
     * state.json), a run folder (its final weights, or else its newest checkpoint that verifies) or
     * a .safetensors file. A damaged file is named, with what is wrong with it.
     */
    public static Module loadModel(Recipe recipe, Path from) throws IOException {
        Map<String, Tensor> weights;
        if (Files.isDirectory(from) && Files.isRegularFile(from.resolve(Checkpoints.STATE))) {
            weights = Checkpoints.read(from).snapshot().model();
        } else if (Files.isDirectory(from)) {
            if (Files.isRegularFile(from.resolve(Checkpoints.MODEL))) {
                weights = SafeTensors.read(from.resolve(Checkpoints.MODEL)).tensors();
            } else {
                Checkpoints checkpoints = new Checkpoints(from, 1, Checkpoints.WriteHook.NONE);
                if (!checkpoints.any()) throw new IOException(from + " holds no model.safetensors and no checkpoints");
                weights = checkpoints.resume(OptionalLong.empty(), w -> { }).orElseThrow().snapshot().model();
            }
        } else {
            weights = SafeTensors.read(from).tensors();
        }
        Module model = ModelZoo.get(recipe.model()).build(new Generator(0));
        model.loadStateDict(weights);
        return model;
    }
}
