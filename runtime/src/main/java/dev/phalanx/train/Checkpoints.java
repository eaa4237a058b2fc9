package dev.phalanx.train;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;

import dev.phalanx.io.AtomicFiles;
import dev.phalanx.io.SafeTensors;
import dev.phalanx.parallel.Replica;

/**
 * Checkpoints in a run folder: {@code checkpoints/step-00001234/} holds {@code model.safetensors}
 * (PyTorch's state_dict names and layouts), {@code optimizer.safetensors} and
 * {@code state.json}; {@code checkpoints/latest} names the newest. A checkpoint is written
 * into a hidden temporary folder, every file fsynced, and only then renamed into place and
 * made the latest: a crash or a full disk at any moment leaves the previous checkpoint whole.
 */
public final class Checkpoints {

    /** Called after each file is written (tests use it to simulate a full disk). */
    public interface WriteHook {
        WriteHook NONE = file -> { };

        void written(Path file) throws IOException;
    }

    /** A checkpoint read back. */
    public record Loaded(Path dir, Replica.Snapshot snapshot, TrainState state) { }

    public static final String MODEL = "model.safetensors", OPTIMIZER = "optimizer.safetensors", STATE = "state.json";

    private final Path dir;
    private final int keep;
    private final WriteHook hook;

    public Checkpoints(Path runDir, int keep, WriteHook hook) {
        this.dir = runDir.resolve("checkpoints");
        this.keep = keep;
        this.hook = hook;
    }

    public Path folder() {
        return dir;
    }

    public Path write(Replica.Snapshot snapshot, TrainState state) throws IOException {
        Files.createDirectories(dir);
        String name = String.format("step-%08d", state.step());
        Path tmp = Files.createTempDirectory(dir, "." + name + ".");
        boolean done = false;
        try {
            AtomicFiles.writeBytes(tmp.resolve(MODEL), SafeTensors.serialize(snapshot.model(), Map.of("format", "pt")));
            hook.written(tmp.resolve(MODEL));
            AtomicFiles.writeBytes(tmp.resolve(OPTIMIZER), SafeTensors.serialize(snapshot.optimizer(), Map.of("format", "phalanx-optimizer")));
            hook.written(tmp.resolve(OPTIMIZER));
            AtomicFiles.writeBytes(tmp.resolve(STATE), state.toJson().getBytes(StandardCharsets.UTF_8));
            hook.written(tmp.resolve(STATE));
            Path target = dir.resolve(name);
            if (Files.exists(target)) deleteTree(target); // the same step again (a resumed run): replace it
            AtomicFiles.readableByAll(tmp);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            AtomicFiles.writeBytes(dir.resolve("latest"), (name + "\n").getBytes(StandardCharsets.UTF_8));
            hook.written(dir.resolve("latest"));
            done = true;
            prune();
            return target;
        } finally {
            if (!done && Files.exists(tmp)) deleteTree(tmp);
        }
    }

    /** The newest complete checkpoint, if any. */
    public Optional<Loaded> latest() throws IOException {
        Optional<Path> d = latestDir();
        if (d.isEmpty()) return Optional.empty();
        return Optional.of(read(d.get()));
    }

    public Optional<Path> latestDir() throws IOException {
        Path pointer = dir.resolve("latest");
        if (Files.isRegularFile(pointer)) {
            Path d = dir.resolve(Files.readString(pointer).trim());
            if (complete(d)) return Optional.of(d);
        }
        List<Path> all = steps();
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    public static Loaded read(Path checkpointDir) throws IOException {
        if (!complete(checkpointDir)) {
            throw new IOException(checkpointDir + " is not a complete checkpoint (expected " + MODEL + ", " + OPTIMIZER + " and " + STATE + ")");
        }
        var model = SafeTensors.read(checkpointDir.resolve(MODEL)).tensors();
        var opt = SafeTensors.read(checkpointDir.resolve(OPTIMIZER)).tensors();
        TrainState state = TrainState.fromJson(Files.readString(checkpointDir.resolve(STATE)), checkpointDir.resolve(STATE).toString());
        return new Loaded(checkpointDir, new Replica.Snapshot(model, opt), state);
    }

    private static boolean complete(Path d) {
        return Files.isRegularFile(d.resolve(MODEL)) && Files.isRegularFile(d.resolve(OPTIMIZER)) && Files.isRegularFile(d.resolve(STATE));
    }

    private List<Path> steps() throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) return out;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "step-*")) {
            for (Path p : s) if (complete(p)) out.add(p);
        }
        out.sort(Comparator.comparing(p -> p.getFileName().toString()));
        return out;
    }

    private void prune() throws IOException {
        List<Path> all = steps();
        for (int i = 0; i < all.size() - keep; i++) deleteTree(all.get(i));
    }

    private static void deleteTree(Path p) throws IOException {
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        }
    }
}
