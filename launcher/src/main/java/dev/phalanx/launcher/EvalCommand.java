package dev.phalanx.launcher;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.data.DataLoader;
import dev.phalanx.data.ImageDataset;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.Module;
import dev.phalanx.tensor.Backends;
import dev.phalanx.train.Evaluation;
import dev.phalanx.train.Recipe;
import dev.phalanx.train.SampleGrid;
import dev.phalanx.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code phalanx eval CHECKPOINT}: accuracy overall and per class, and the confusion matrix. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Measure a trained model on the test set: accuracy overall and per class (as the blitz prints them) and the confusion matrix.",
            "Writes samples.png, the first test images as a grid (the blitz's imshow(make_grid(images))), into the run folder."})
final class EvalCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "CHECKPOINT", description = "a run folder, a checkpoint folder, or a model .safetensors file")
    Path checkpoint;

    @Option(names = "--recipe", description = "the recipe (default: recipe.conf of the run folder)")
    Path recipe;

    @Option(names = "--data", description = "the folder holding the data set's files")
    Path data;

    @Option(names = "--device", paramLabel = "cpu|cuda|auto", description = DeviceOption.DESCRIPTION)
    String device;

    @Option(names = "--threads", defaultValue = "1", description = "CPU threads (default: ${DEFAULT-VALUE})")
    int threads;

    @Override
    public Integer call() throws Exception {
        if (!Files.exists(checkpoint)) throw new IllegalArgumentException("checkpoint " + checkpoint + " not found");
        Path recipeFile = recipe != null ? recipe : findRecipe(checkpoint);
        Recipe r = Recipe.load(recipeFile);
        Integer stop = DeviceOption.check(device, (r.config().hasPath("runtime.device") ? r.config().getString("runtime.device") : null), r.source() + ": runtime.device", System.err, System.err);
        if (stop != null) return stop;
        if (data != null) r = r.with(java.util.Map.of("data.path", data.toString()));
        Module model = Trainer.loadModel(r, checkpoint).eval();
        ImageDataset test = Trainer.data(r, false, System.out);
        try (CpuBackend backend = CpuBackend.create(threads, r.kernels());
             DataLoader loader = new DataLoader(test, r.evalBatchSize(), false, 0, false, 1, 2);
             var scope = Backends.use(backend)) {
            Evaluation e = Evaluation.run(x -> {
                try (var ng = GradMode.noGrad()) {
                    return model.forward(x);
                }
            }, loader, test.classes());
            System.out.print(e.report());
            // the blitz's imshow(make_grid(images)) with its GroundTruth/Predicted lines, for the first row of the grid
            // into the run folder: where recipe.conf was found, else the checkpoint's own folder
            Path runFolder = recipe == null ? recipeFile.toAbsolutePath().getParent()
                    : Files.isDirectory(checkpoint) ? checkpoint : checkpoint.toAbsolutePath().getParent();
            Path grid = SampleGrid.write(runFolder, test, e.samplePredictions(), r.mean(), r.std());
            StringBuilder truth = new StringBuilder("GroundTruth: "), predicted = new StringBuilder("Predicted:   ");
            for (int i = 0; i < Math.min(SampleGrid.PER_ROW, e.samplePredictions().length); i++) {
                truth.append(String.format(java.util.Locale.ROOT, " %-11s", test.classes().get(test.label(i))));
                predicted.append(String.format(java.util.Locale.ROOT, " %-11s", test.classes().get(e.samplePredictions()[i])));
            }
            System.out.println(truth.toString().stripTrailing());
            System.out.println(predicted.toString().stripTrailing());
            System.out.println("Image grid of the first " + e.samplePredictions().length + " test images, framed green where right and red where wrong: " + grid);
        }
        return 0;
    }

    /** recipe.conf in the run folder, which may be the checkpoint's folder or two levels up. */
    private static Path findRecipe(Path checkpoint) {
        Path p = checkpoint.toAbsolutePath();
        for (int i = 0; i < 4 && p != null; i++, p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("recipe.conf"))) return p.resolve("recipe.conf");
        }
        throw new IllegalArgumentException("no recipe.conf found beside " + checkpoint + "; name the recipe with --recipe");
    }
}
