package dev.phalanx.launcher;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import dev.phalanx.train.Recipe;
import dev.phalanx.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code phalanx train RECIPE.conf}: trains, checkpoints, resumes. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Train a recipe (a HOCON file such as conf/fashion-lenet.conf) into a run folder.",
            "Prints the blitz's loss lines, shows a progress bar on a terminal, writes checkpoints,",
            "metrics.csv, TensorBoard events and report.html. Ctrl-C saves a checkpoint, then exits."})
final class TrainCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "RECIPE", description = "the recipe file")
    Path recipe;

    @Option(names = "--epochs", description = "override train.epochs")
    Integer epochs;

    @Option(names = "--batch-size", description = "override train.batch-size")
    Integer batchSize;

    @Option(names = "--lr", description = "override optimizer.lr")
    Double lr;

    @Option(names = "--max-steps", description = "stop after this many steps in all")
    Long maxSteps;

    @Option(names = "--seed", description = "override train.seed (model initialisation and data order)")
    Long seed;

    @Option(names = "--replicas", description = "data-parallel replicas (default: the recipe's runtime.replicas; with --device cuda or auto "
            + "on several GPUs, one per GPU unless set)")
    Integer replicas;

    @Option(names = "--threads", description = "CPU threads per replica (default: the recipe's runtime.threads, whose default, auto, "
            + "is the machine's cores divided between the replicas, as PyTorch's; results do not depend on it)")
    Integer threads;

    @Option(names = "--reproducible", negatable = true,
            description = "bitwise the same parameters for any replica count (runtime.reproducible; DESIGN.md says what is exact)")
    Boolean reproducible;

    @Option(names = "--log-every", description = "mini-batches per loss line")
    Integer logEvery;

    @Option(names = "--checkpoint-every", description = "steps between checkpoints")
    Long checkpointEvery;

    @Option(names = "--data", description = "the folder holding the data set's files")
    Path data;

    @Option(names = "--download", description = "download the data set (SHA-256 checked) if it is not found")
    boolean download;

    @Option(names = "--out", description = "the run folder (default: runs/<recipe name>)")
    Path out;

    @Option(names = "--device", paramLabel = DeviceOption.LABEL, description = DeviceOption.DESCRIPTION)
    String device;

    /** on or off, for --cuda-graph. */
    enum Switch { on, off }

    @Option(names = "--cuda-graph", paramLabel = "on|off", description = "capture the whole training step into a CUDA graph and replay it, with one "
            + "replica on a device (default: the recipe's runtime.cuda-graph, on); off runs every step eagerly, for debugging")
    Switch cudaGraph;

    @Option(names = "--resume", arity = "0..1", paramLabel = "STEP", fallbackValue = "-1", preprocessor = AttachedStepOnly.class,
            description = {"continue the run in the run folder from its newest checkpoint that verifies, or from the checkpoint of STEP;",
                "the run's own recipe.conf is the base: changed values are printed and recorded, a changed model or data set is refused"})
    Long resume;

    /** {@code --resume} takes a step only as {@code --resume=STEP}: {@code --resume RECIPE.conf} leaves the recipe to the recipe. */
    static final class AttachedStepOnly implements picocli.CommandLine.IParameterPreprocessor {
        @Override
        public boolean preprocess(java.util.Stack<String> args, picocli.CommandLine.Model.CommandSpec command,
                                  picocli.CommandLine.Model.ArgSpec arg, Map<String, Object> info) {
            if (" ".equals(info.get("separator"))) args.push("-1"); // not attached: as if --resume=-1 (the newest that verifies)
            return false;
        }
    }

    @Option(names = "--overwrite", description = "start over in a run folder that holds another run: deletes its checkpoints, weights and metrics")
    boolean overwrite;

    @Option(names = "--nodes", description = "cluster mode: train across K nodes, this one the coordinator (start the others with phalanx node --join)")
    Integer nodes;

    @Option(names = "--bind", paramLabel = "HOST:PORT", description = "cluster mode: where this coordinator listens (default: conf/cluster.conf, 127.0.0.1:25520)")
    String bind;

    @Option(names = "--cluster-conf", description = "cluster settings (default: conf/cluster.conf if it exists)")
    Path clusterConf;

    @Override
    public Integer call() throws Exception {
        if (resume != null && overwrite) throw new IllegalArgumentException("--resume and --overwrite exclude each other: continue the run, or start it over");
        Recipe r = Recipe.load(recipe);
        Integer deviceExit = DeviceOption.check(device, (r.config().hasPath("runtime.device") ? r.config().getString("runtime.device") : null), r.source() + ": runtime.device", System.out, System.err);
        if (deviceExit != null) return deviceExit;
        Map<String, Object> over = new LinkedHashMap<>();
        if (epochs != null) over.put("train.epochs", epochs);
        if (batchSize != null) over.put("train.batch-size", batchSize);
        if (lr != null) over.put("optimizer.lr", lr);
        if (maxSteps != null) over.put("train.max-steps", maxSteps);
        if (seed != null) over.put("train.seed", seed);
        if (replicas != null) over.put("runtime.replicas", replicas);
        if (threads != null) over.put("runtime.threads", threads);
        if (reproducible != null) over.put("runtime.reproducible", reproducible);
        if (logEvery != null) over.put("train.log-every", logEvery);
        if (checkpointEvery != null) over.put("train.checkpoint-every", checkpointEvery);
        if (data != null) over.put("data.path", data.toString());
        if (device != null) over.put("runtime.device", device); // the trainer places the replicas from it
        if (cudaGraph != null) over.put("runtime.cuda-graph", cudaGraph == Switch.on);
        if (download) over.put("data.download", true);
        if (!over.isEmpty()) r = r.with(over);
        Path runDir = out != null ? out : Path.of("runs", r.name());
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch finished = new CountDownLatch(1);
        // Ctrl-C: ask the loop to save a checkpoint and return, and let the JVM exit only after that
        Thread hook = new Thread(() -> {
            stop.set(true);
            try {
                finished.await(120, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "phalanx-ctrl-c");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            OptionalLong step = resume == null || resume < 0 ? OptionalLong.empty() : OptionalLong.of(resume);
            Trainer trainer = new Trainer(r, new Trainer.Options(runDir, resume != null, System.out, System.err, System.console() != null,
                    stop, null, step, overwrite));
            if (nodes != null || bind != null) trainer.withRunner(ClusterOptions.coordinator(nodes, bind, clusterConf));
            Trainer.Outcome outcome = trainer.run();
            return outcome.interrupted() ? 130 : 0;
        } finally {
            finished.countDown();
            if (!stop.get()) Runtime.getRuntime().removeShutdownHook(hook);
        }
    }
}
