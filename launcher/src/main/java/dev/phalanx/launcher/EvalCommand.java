package dev.phalanx.launcher;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.data.DataLoader;
import dev.phalanx.data.ImageDataset;
import dev.phalanx.kernels.Device;
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

/**
 * {@code phalanx eval CHECKPOINT}: accuracy overall and per class, and the confusion matrix. The
 * forward passes run on {@code --device} (else the run's {@code runtime.device}, else auto): on a
 * device the model lives there, each batch is copied up and its logits back.
 */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Measure a trained model on the test set: accuracy overall and per class (as the blitz prints them) and the confusion matrix.",
            "Writes samples.png, the first test images as a grid (the blitz's imshow(make_grid(images))), into the run folder."})
final class EvalCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "CHECKPOINT", description = "a run folder, a checkpoint folder, or a model .safetensors file (with --model where no recipe.conf lies beside it)")
    Path checkpoint;

    @Option(names = "--recipe", description = "the recipe (default: recipe.conf of the run folder)")
    Path recipe;

    @Option(names = "--data", description = "the folder holding the data set's files")
    Path data;

    @Option(names = "--device", paramLabel = DeviceOption.LABEL, description = DeviceOption.DESCRIPTION)
    String device;

    @Option(names = "--model", description = "the model of a bare weights file with no recipe beside it: cifar-lenet, fashion-lenet or cifar-wide")
    String model;

    @Option(names = "--data-set", description = "with --model: the data set (default: cifar10 for the cifar models, fashion-mnist for fashion-lenet)")
    String dataSet;

    @Option(names = "--threads", description = "CPU threads (default: the machine's cores, as PyTorch's; results do not depend on it)")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        if (!Files.exists(checkpoint)) throw new IllegalArgumentException("checkpoint " + checkpoint + " not found");
        Path recipeFile = recipe != null ? recipe : model != null ? null : findRecipe(checkpoint);
        Recipe r = recipeFile != null ? Recipe.load(recipeFile) : recipeForModel();
        // a run's recipe says where it trained: eval goes there too where it can, else to the cpu with a line saying why
        DeviceOption.Outcome where = DeviceOption.choose(device, (r.config().hasPath("runtime.device") ? r.config().getString("runtime.device") : null),
                r.source() + ": runtime.device", true, System.out, System.err);
        if (where.exit() != null) return where.exit();
        Device on = where.device();
        if (data != null) r = r.with(java.util.Map.of("data.path", data.toString()));
        Module model = Trainer.loadModel(r, checkpoint).eval();
        if (!on.isCpu()) {
            if (where.choice().note().isEmpty()) System.out.println("device: " + DeviceOption.describe(on));
            model.to(on);
        }
        ImageDataset test = Trainer.data(r, false, System.out);
        int threads = this.threads != null ? this.threads : Recipe.autoThreads(1);
        if (threads < 1) throw new IllegalArgumentException("--threads must be >= 1, got " + threads);
        try (CpuBackend backend = CpuBackend.create(threads, r.kernels());
             DataLoader loader = new DataLoader(test, r.evalBatchSize(), false, 0, false, 1, 2);
             var scope = Backends.use(backend)) {
            // on a device: each batch copied up, the logits copied back (the predictions are counted on the host)
            Evaluation e = Evaluation.run(x -> {
                try (var ng = GradMode.noGrad()) {
                    return on.isCpu() ? model.forward(x) : model.forward(x.to(on)).to(Device.CPU);
                }
            }, loader, test.classes());
            System.out.print(e.report());
            // the blitz's imshow(make_grid(images)) with its GroundTruth/Predicted lines, for the first row of the grid
            // into the run folder: where recipe.conf was found, else the checkpoint's own folder
            Path runFolder = recipe == null && recipeFile != null ? recipeFile.toAbsolutePath().getParent()
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

    /** The recipe of a bare weights file: the named model on its usual data set, normalised as the blitz does for CIFAR-10. */
    private Recipe recipeForModel() {
        boolean cifar = model.startsWith("cifar");
        String set = dataSet != null ? dataSet : cifar ? "cifar10" : "fashion-mnist";
        String hocon = "model = \"" + model + "\"\ndata.set = \"" + set + "\"\n"
                + (set.startsWith("cifar") ? "data.mean = [0.5, 0.5, 0.5]\ndata.std = [0.5, 0.5, 0.5]\n" : "");
        return Recipe.parse(hocon, "--model " + model);
    }

    /** recipe.conf in the run folder, which may be the checkpoint's folder or two levels up. */
    private static Path findRecipe(Path checkpoint) {
        Path p = checkpoint.toAbsolutePath();
        for (int i = 0; i < 4 && p != null; i++, p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("recipe.conf"))) return p.resolve("recipe.conf");
        }
        throw new IllegalArgumentException("no recipe.conf found beside " + checkpoint + "; name the recipe with --recipe, or the model "
                + "with --model (cifar-lenet, fashion-lenet, cifar-wide)");
    }
}
