package dev.phalanx.train;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigException;
import com.typesafe.config.ConfigFactory;
import com.typesafe.config.ConfigRenderOptions;
import com.typesafe.config.ConfigValue;

import dev.phalanx.kernels.cpu.CpuBackend;

/**
 * A training recipe: a HOCON file (see {@code recipe-defaults.conf} for every key). Unknown
 * keys and values of the wrong type are errors that name the key, the file and the line.
 */
public record Recipe(String source, Config config,
                     String model,
                     String dataSet, String dataPath, boolean download, String mirror, boolean allowSample,
                     float[] mean, float[] std, int workers,
                     int epochs, int batchSize, boolean shuffle, long seed, long maxSteps, int logEvery, int metricsEvery,
                     long checkpointEvery, int keepCheckpoints, boolean evaluate, int evalBatchSize,
                     String optimizer, float lr, float momentum, float dampening, boolean nesterov, float weightDecay,
                     float beta1, float beta2, float eps, float alpha,
                     int replicas, int threads, CpuBackend.Kernels kernels, Duration stepTimeout, int checksumEvery,
                     boolean reproducible) {

    private static final Config DEFAULTS = ConfigFactory.parseResources(Recipe.class, "recipe-defaults.conf");

    /** Thrown for any problem with a recipe; the message names the file, the key and the line. */
    public static final class RecipeException extends IllegalArgumentException {
        public RecipeException(String message) {
            super(message);
        }
    }

    public static Recipe load(Path file) {
        if (!Files.isRegularFile(file)) {
            throw new RecipeException("recipe " + file + " not found" + (Files.isDirectory(file) ? " (it is a folder)" : ""));
        }
        Config user;
        try {
            user = ConfigFactory.parseFile(file.toFile(), com.typesafe.config.ConfigParseOptions.defaults().setAllowMissing(false));
        } catch (ConfigException e) {
            throw new RecipeException(file + ": " + e.getMessage());
        }
        return of(user, file.toString());
    }

    /** The defaults alone, for the built-in data-parallel demo and tests. */
    public static Recipe defaults() {
        return of(ConfigFactory.empty(), "(defaults)");
    }

    public static Recipe parse(String hocon, String source) {
        try {
            return of(ConfigFactory.parseString(hocon, com.typesafe.config.ConfigParseOptions.defaults().setOriginDescription(source)), source);
        } catch (ConfigException e) {
            throw new RecipeException(source + ": " + e.getMessage());
        }
    }

    /** The recipe with some keys replaced (command-line overrides), checked like the file. */
    public Recipe with(Map<String, Object> overrides) {
        Config c = ConfigFactory.parseMap(overrides, "command line");
        return of(c.withFallback(config), source);
    }

    /** The keys a run cannot change once it has started: its model and its data set. */
    public static final List<String> FIXED_KEYS = List.of("model", "data.set");

    /** One value a resumed run changes: the run's old value, the new one, and where the new one comes from. */
    public record Change(String key, String was, String now, String origin) {
        @Override
        public String toString() {
            return key + " " + was + " -> " + now + " (" + origin + ")";
        }
    }

    /**
     * This recipe continuing a run whose own recipe is {@code run} (its {@code recipe.conf}): the
     * run's values, replaced by the ones this recipe sets itself (its file and command line), not by
     * defaults. Refuses, in one line naming them, a change of a {@linkplain #FIXED_KEYS fixed key}.
     */
    public Recipe continuing(Recipe run, List<Change> changes) {
        Recipe merged = of(config.withFallback(run.config), source);
        Config was = run.config.withFallback(DEFAULTS).resolve(), now = merged.config.withFallback(DEFAULTS).resolve();
        List<String> refused = new ArrayList<>();
        for (Map.Entry<String, ConfigValue> e : new java.util.TreeMap<>(toMap(now)).entrySet()) {
            String key = e.getKey();
            String before = was.hasPath(key) ? show(was.getValue(key)) : "(unset)", after = show(e.getValue());
            if (before.equals(after)) continue;
            if (FIXED_KEYS.contains(key)) {
                refused.add(key + " = " + after + " (the run has " + before + ")");
            } else {
                changes.add(new Change(key, before, after, origin(config.hasPath(key) ? config.getValue(key) : e.getValue())));
            }
        }
        if (!refused.isEmpty()) {
            throw new RecipeException(run.source + ": cannot resume with " + String.join(", ", refused) + ": "
                    + String.join(" and ", FIXED_KEYS) + " cannot change in the middle of a run; start a new run in another folder (--out)");
        }
        return merged;
    }

    private static Map<String, ConfigValue> toMap(Config c) {
        Map<String, ConfigValue> m = new java.util.HashMap<>();
        for (Map.Entry<String, ConfigValue> e : c.entrySet()) m.put(e.getKey(), e.getValue());
        return m;
    }

    private static String show(ConfigValue v) {
        Object u = v.unwrapped();
        return u instanceof String s ? s : v.render(ConfigRenderOptions.concise());
    }

    private static String origin(ConfigValue v) {
        var o = v.origin();
        String d = o.filename() != null ? o.filename() : o.description();
        if (o.lineNumber() > 0) {
            String suffix = ": " + o.lineNumber();
            if (d.endsWith(suffix)) d = d.substring(0, d.length() - suffix.length());
            d += " line " + o.lineNumber();
        }
        return d;
    }

    /**
     * {@code runtime.cuda-graph}: whether one replica on a device, or the replicas sharing one
     * device, capture their whole training step into a graph and replay it (default on; the cpu never does).
     */
    public boolean cudaGraph() {
        return config.withFallback(DEFAULTS).resolve().getBoolean("runtime.cuda-graph");
    }

    private static Recipe of(Config user, String source) {
        List<String> unknown = new ArrayList<>();
        for (Map.Entry<String, ConfigValue> e : user.entrySet()) {
            if (!DEFAULTS.hasPath(e.getKey())) {
                int line = e.getValue().origin().lineNumber();
                unknown.add("'" + e.getKey() + "'" + (line > 0 ? " (line " + line + ")" : ""));
            }
        }
        if (!unknown.isEmpty()) {
            TreeSet<String> known = new TreeSet<>();
            for (Map.Entry<String, ConfigValue> e : DEFAULTS.entrySet()) known.add(e.getKey());
            throw new RecipeException(source + ": unknown key" + (unknown.size() > 1 ? "s " : " ") + String.join(", ", unknown)
                    + "; known keys: " + String.join(", ", known));
        }
        Config c = user.withFallback(DEFAULTS).resolve();
        try {
            c.getBoolean("runtime.cuda-graph"); // on or off: checked here, read by cudaGraph()
            return new Recipe(source, user,
                    c.getString("model"),
                    c.getString("data.set"), c.getString("data.path"), c.getBoolean("data.download"), c.getString("data.mirror"),
                    c.getBoolean("data.allow-sample"), floats(c, "data.mean"), floats(c, "data.std"), c.getInt("data.workers"),
                    c.getInt("train.epochs"), c.getInt("train.batch-size"), c.getBoolean("train.shuffle"), c.getLong("train.seed"),
                    c.getLong("train.max-steps"), c.getInt("train.log-every"), c.getInt("train.metrics-every"), c.getLong("train.checkpoint-every"),
                    c.getInt("train.keep-checkpoints"), c.getBoolean("train.evaluate"), c.getInt("train.eval-batch-size"),
                    c.getString("optimizer.name"), (float) c.getDouble("optimizer.lr"), (float) c.getDouble("optimizer.momentum"),
                    (float) c.getDouble("optimizer.dampening"), c.getBoolean("optimizer.nesterov"), (float) c.getDouble("optimizer.weight-decay"),
                    floats(c, "optimizer.betas")[0], floats(c, "optimizer.betas")[1], (float) c.getDouble("optimizer.eps"),
                    (float) c.getDouble("optimizer.alpha"),
                    c.getInt("runtime.replicas"), threads(c, source), kernels(c, source), c.getDuration("runtime.step-timeout"),
                    c.getInt("runtime.checksum-every"), c.getBoolean("runtime.reproducible")).validated();
        } catch (ConfigException.WrongType e) {
            // Typesafe says "<file>: 3: train.epochs has type STRING rather than NUMBER"
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+): (\\S+) has type (\\w+) rather than (\\w+)").matcher(e.getMessage());
            if (m.find()) {
                throw new RecipeException(source + ": key '" + m.group(2) + "' (line " + m.group(1) + ") must be a "
                        + m.group(4).toLowerCase(java.util.Locale.ROOT) + ", not a " + m.group(3).toLowerCase(java.util.Locale.ROOT));
            }
            throw new RecipeException(source + ": " + e.getMessage());
        } catch (ConfigException.BadValue e) {
            throw new RecipeException(source + ": " + e.getMessage());
        }
    }

    private static float[] floats(Config c, String key) {
        List<Double> list = c.getDoubleList(key);
        float[] out = new float[list.size()];
        for (int i = 0; i < out.length; i++) out[i] = list.get(i).floatValue();
        return out;
    }

    /** The word that asks for the machine's cores, divided between the replicas. */
    public static final String AUTO_THREADS = "auto";

    /**
     * {@code runtime.threads}: a count, or {@value #AUTO_THREADS} (the default), the machine's
     * cores divided between the replicas, at least 1, as PyTorch uses every core by default.
     * Results do not depend on it (the kernels cut work by shape, not by thread count).
     */
    private static int threads(Config c, String source) {
        ConfigValue v = c.getValue("runtime.threads");
        if (v.valueType() == com.typesafe.config.ConfigValueType.STRING && AUTO_THREADS.equals(v.unwrapped())) {
            return autoThreads(c.getInt("runtime.replicas"));
        }
        if (v.valueType() == com.typesafe.config.ConfigValueType.STRING) {
            throw new RecipeException(source + ": runtime.threads must be a number or auto, got '" + v.unwrapped() + "'" + line(c, "runtime.threads"));
        }
        return c.getInt("runtime.threads");
    }

    /** The machine's cores divided between {@code replicas} replicas, at least 1 each. */
    public static int autoThreads(int replicas) {
        return Math.max(1, Runtime.getRuntime().availableProcessors() / Math.max(1, replicas));
    }

    private static CpuBackend.Kernels kernels(Config c, String source) {
        String k = c.getString("runtime.kernels");
        try {
            return CpuBackend.Kernels.valueOf(k.toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new RecipeException(source + ": runtime.kernels must be auto, native or java, got '" + k + "'" + line(c, "runtime.kernels"));
        }
    }

    private static String line(Config c, String key) {
        int l = c.getValue(key).origin().lineNumber();
        return l > 0 ? " (line " + l + ")" : "";
    }

    private Recipe validated() {
        require(epochs >= 1, "train.epochs must be >= 1, got " + epochs);
        require(batchSize >= 1, "train.batch-size must be >= 1, got " + batchSize);
        require(maxSteps >= 0, "train.max-steps must be >= 0, got " + maxSteps);
        require(logEvery >= 1, "train.log-every must be >= 1, got " + logEvery);
        require(metricsEvery >= 1, "train.metrics-every must be >= 1, got " + metricsEvery);
        require(checkpointEvery >= 1, "train.checkpoint-every must be >= 1, got " + checkpointEvery);
        require(keepCheckpoints >= 1, "train.keep-checkpoints must be >= 1, got " + keepCheckpoints);
        require(evalBatchSize >= 1, "train.eval-batch-size must be >= 1, got " + evalBatchSize);
        require(lr > 0 && Float.isFinite(lr), "optimizer.lr must be > 0, got " + lr);
        require(List.of("sgd", "adam", "adamw", "rmsprop").contains(optimizer), "optimizer.name must be sgd, adam, adamw or rmsprop, got '" + optimizer + "'");
        require(mean.length == std.length && mean.length > 0, "data.mean and data.std need the same number of values (one per channel), got "
                + mean.length + " and " + std.length);
        require(replicas >= 1, "runtime.replicas must be >= 1, got " + replicas);
        require(threads >= 1, "runtime.threads must be >= 1, got " + threads);
        require(workers >= 0, "data.workers must be >= 0, got " + workers);
        require(!stepTimeout.isNegative() && !stepTimeout.isZero(), "runtime.step-timeout must be positive");
        try {
            dev.phalanx.bench.ModelZoo.get(model);
            dev.phalanx.data.DataSets.info(dataSet);
        } catch (IllegalArgumentException e) {
            throw new RecipeException(source + ": " + e.getMessage());
        }
        return this;
    }

    private void require(boolean ok, String message) {
        if (!ok) throw new RecipeException(source + ": " + message);
    }

    /** The recipe as HOCON, every key resolved, for the run folder. */
    public String render() {
        return config.withFallback(DEFAULTS).resolve().root().render(ConfigRenderOptions.defaults().setOriginComments(false).setJson(false));
    }

    /** A stable name for the run folder: the recipe file's name without extension. */
    public String name() {
        String f = Path.of(source).getFileName().toString();
        int dot = f.lastIndexOf('.');
        return dot > 0 ? f.substring(0, dot) : f;
    }
}
