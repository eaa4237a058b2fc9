package dev.phalanx.train;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.phalanx.io.AtomicFiles;
import dev.phalanx.io.Json;
import dev.phalanx.io.SafeTensors;
import dev.phalanx.parallel.Replica;

/**
 * Checkpoints in a run folder: {@code checkpoints/step-00001234/} holds {@code model.safetensors}
 * (PyTorch's state_dict names and layouts), {@code optimizer.safetensors} and
 * {@code state.json}, which records the training position and a CRC-32C and size of each
 * other file; {@code checkpoints/latest} names the newest. A checkpoint is written into a
 * hidden temporary folder, every file fsynced, and only then renamed into place and made the
 * latest: a crash or a full disk at any moment leaves the previous checkpoint whole. Reading one
 * verifies every checksum, so a flipped bit in the tensor data is caught, and a resume takes the
 * newest checkpoint that verifies.
 */
public final class Checkpoints {

    /** Called after each file is written (tests use it to simulate a full disk). */
    public interface WriteHook {
        WriteHook NONE = file -> { };

        void written(Path file) throws IOException;
    }

    /** A checkpoint read back. */
    public record Loaded(Path dir, Replica.Snapshot snapshot, TrainState state) { }

    /** A checkpoint that cannot be used: the message names the file and what is wrong with it. */
    public static final class DamagedException extends IOException {
        public DamagedException(String message) {
            super(message);
        }

        public DamagedException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    public static final String MODEL = "model.safetensors", OPTIMIZER = "optimizer.safetensors", STATE = "state.json", LATEST = "latest";
    /** Where checkpoints of steps after the one a run went back to are kept, out of the resume order. */
    public static final String SUPERSEDED = "superseded";

    private static final Pattern STEP_NAME = Pattern.compile("step-(\\d{8,})");

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

    public static String name(long step) {
        return String.format("step-%08d", step);
    }

    public Path write(Replica.Snapshot snapshot, TrainState state) throws IOException {
        Files.createDirectories(dir);
        String name = name(state.step());
        supersedeAfter(state.step(), null);
        Path tmp = Files.createTempDirectory(dir, "." + name + ".");
        boolean done = false;
        try {
            ObjectNode json = state.toJsonNode();
            ObjectNode files = json.putObject("files");
            writeFile(tmp.resolve(MODEL), SafeTensors.serialize(snapshot.model(), Map.of("format", "pt")), files);
            writeFile(tmp.resolve(OPTIMIZER), SafeTensors.serialize(snapshot.optimizer(), Map.of("format", "phalanx-optimizer")), files);
            AtomicFiles.writeBytes(tmp.resolve(STATE), Json.write(json).getBytes(StandardCharsets.UTF_8));
            hook.written(tmp.resolve(STATE));
            Path target = dir.resolve(name);
            if (Files.exists(target)) deleteTree(target); // the same step again (a resumed run): replace it
            AtomicFiles.readableByAll(tmp);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            AtomicFiles.writeBytes(dir.resolve(LATEST), (name + "\n").getBytes(StandardCharsets.UTF_8));
            hook.written(dir.resolve(LATEST));
            done = true;
            prune(target);
            return target;
        } finally {
            if (!done && Files.exists(tmp)) deleteTree(tmp);
        }
    }

    private void writeFile(Path file, byte[] bytes, ObjectNode files) throws IOException {
        AtomicFiles.writeBytes(file, bytes);
        hook.written(file);
        ObjectNode f = files.putObject(file.getFileName().toString());
        f.put("bytes", bytes.length);
        f.put("crc32c", crcHex(bytes));
    }

    static String crcHex(byte[] bytes) {
        CRC32C crc = new CRC32C();
        crc.update(bytes);
        return String.format("%08x", crc.getValue());
    }

    /** The newest checkpoint that verifies, if any (damaged ones are passed over silently; {@link #resume} warns). */
    public Optional<Loaded> latest() throws IOException {
        for (Path d : stepsNewestFirst()) {
            try {
                return Optional.of(read(d));
            } catch (DamagedException e) {
                // an older one may be whole
            }
        }
        return Optional.empty();
    }

    /** The newest checkpoint folder that has all its files (not verified: for messages and for publishing). */
    public Optional<Path> latestDir() throws IOException {
        for (Path d : stepsNewestFirst()) if (complete(d)) return Optional.of(d);
        return Optional.empty();
    }

    /**
     * The checkpoint to resume from: the one of {@code step} if given, else the newest that
     * verifies, each damaged newer one named through {@code warn}. Empty when the run folder has
     * no checkpoint at all. Refuses a {@code latest} that points outside the run folder, and,
     * when no checkpoint verifies, says what is wrong with each.
     */
    public Optional<Loaded> resume(OptionalLong step, Consumer<String> warn) throws IOException {
        checkLatestPointer();
        List<Path> steps = stepsNewestFirst();
        if (step.isPresent()) {
            Path d = dir.resolve(name(step.getAsLong()));
            if (!Files.isDirectory(d)) {
                throw new NoSuchFileException(d.toString(), null, "no checkpoint of step " + step.getAsLong() + " in " + dir + " (there are: "
                        + (steps.isEmpty() ? "none" : String.join(", ", steps.stream().map(p -> Long.toString(stepOf(p))).toList())) + ")");
            }
            return Optional.of(readOwn(d));
        }
        if (steps.isEmpty()) return Optional.empty();
        List<String> damaged = new ArrayList<>();
        for (Path d : steps) {
            try {
                Loaded l = readOwn(d);
                for (String w : damaged) warn.accept("skipped a damaged checkpoint: " + w);
                return Optional.of(l);
            } catch (DamagedException e) {
                damaged.add(e.getMessage());
            }
        }
        throw new DamagedException("no checkpoint in " + dir + " can be resumed from: " + String.join("; ", damaged)
                + ". Start the run over with --overwrite (it deletes them)");
    }

    /** {@code latest} names a folder beside it; anything else (an absolute path, "..", a link out of the folder) is refused. */
    private void checkLatestPointer() throws IOException {
        Path pointer = dir.resolve(LATEST);
        if (!Files.exists(pointer, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        String target = Files.isRegularFile(pointer, java.nio.file.LinkOption.NOFOLLOW_LINKS) ? Files.readString(pointer).trim() : "(a link)";
        Path resolved = dir.resolve(target).normalize();
        boolean inside = STEP_NAME.matcher(target).matches() && resolved.getParent().equals(dir.normalize());
        if (inside && Files.exists(resolved)) inside = resolved.toRealPath().startsWith(dir.toRealPath());
        if (!inside) {
            throw new DamagedException(pointer + " names '" + target + "', which is not a checkpoint of this run folder ("
                    + dir.getParent() + "): a checkpoint lives in its own run folder. Remove " + pointer + " to resume from this folder's own checkpoints");
        }
    }

    /** {@link #read}, for a checkpoint of this run folder: a link to a folder elsewhere is not one. */
    private Loaded readOwn(Path d) throws IOException {
        if (!d.toRealPath().getParent().equals(dir.toRealPath())) {
            throw new DamagedException(d + " is a link to " + d.toRealPath() + ", outside its run folder: a checkpoint lives in its own run folder");
        }
        return read(d);
    }

    /** Reads and verifies a checkpoint folder: every file present, every size and CRC-32C as state.json records, every tensor file valid. */
    public static Loaded read(Path checkpointDir) throws IOException {
        Path stateFile = checkpointDir.resolve(STATE);
        if (!Files.isDirectory(checkpointDir)) throw new NoSuchFileException(checkpointDir.toString(), null, "no such checkpoint folder");
        for (String f : List.of(MODEL, OPTIMIZER, STATE)) {
            if (!Files.isRegularFile(checkpointDir.resolve(f))) {
                throw new DamagedException(checkpointDir.resolve(f) + " is missing: " + checkpointDir + " is not a complete checkpoint (expected "
                        + MODEL + ", " + OPTIMIZER + " and " + STATE + ")");
            }
        }
        JsonNode json;
        TrainState state;
        try {
            json = Json.parse(Files.readString(stateFile));
            state = TrainState.fromJson(json, stateFile.toString());
        } catch (IllegalArgumentException e) {
            throw new DamagedException(e.getMessage().startsWith(stateFile.toString()) ? e.getMessage()
                    : stateFile + ": not a valid training state: " + e.getMessage(), e);
        }
        JsonNode files = json.get("files"); // absent in checkpoints written before checksums were recorded: nothing to verify
        var model = verifiedTensors(checkpointDir.resolve(MODEL), files, stateFile);
        var opt = verifiedTensors(checkpointDir.resolve(OPTIMIZER), files, stateFile);
        return new Loaded(checkpointDir, new Replica.Snapshot(model, opt), state);
    }

    private static Map<String, dev.phalanx.tensor.Tensor> verifiedTensors(Path file, JsonNode files, Path stateFile) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        if (files != null) {
            JsonNode f = files.get(file.getFileName().toString());
            if (f == null || !f.path("bytes").canConvertToLong() || !f.path("crc32c").isTextual()) {
                throw new DamagedException(stateFile + " records no checksum for " + file.getFileName() + " (a damaged state.json)");
            }
            long expectedBytes = f.get("bytes").asLong();
            if (bytes.length != expectedBytes) {
                throw new DamagedException(file + " is " + bytes.length + " bytes, but " + stateFile.getFileName() + " records " + expectedBytes
                        + (bytes.length < expectedBytes ? " (truncated)" : ""));
            }
            String crc = crcHex(bytes);
            if (!crc.equals(f.get("crc32c").asText())) {
                throw new DamagedException(file + ": CRC-32C " + crc + " does not match " + f.get("crc32c").asText() + " recorded in "
                        + stateFile.getFileName() + " (the file changed after it was written)");
            }
        }
        try {
            return SafeTensors.parse(bytes, file.toString()).tensors();
        } catch (IllegalArgumentException e) {
            throw new DamagedException(e.getMessage(), e);
        }
    }

    /** Removes the hidden folders and files that a killed writer left behind. Call it only while holding the run folder's lock. */
    public List<Path> sweep() throws IOException {
        List<Path> removed = new ArrayList<>();
        if (!Files.isDirectory(dir)) return removed;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, ".*")) {
            for (Path p : s) {
                String n = p.getFileName().toString();
                boolean ours = n.startsWith(".step-") || (n.startsWith("." + LATEST + ".") && n.endsWith(".tmp"));
                if (ours) {
                    deleteTree(p);
                    removed.add(p);
                }
            }
        }
        return removed;
    }

    /** Whether any checkpoint folder exists (whole or not). */
    public boolean any() throws IOException {
        return !stepsNewestFirst().isEmpty();
    }

    /** The checkpoint folders, by step number, newest first; whether whole or not. */
    public List<Path> stepsNewestFirst() throws IOException {
        List<Path> out = new ArrayList<>();
        if (!Files.isDirectory(dir)) return out;
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir, "step-*")) {
            for (Path p : s) if (STEP_NAME.matcher(p.getFileName().toString()).matches() && Files.isDirectory(p)) out.add(p);
        }
        out.sort(Comparator.comparingLong(Checkpoints::stepOf).reversed());
        return out;
    }

    static long stepOf(Path checkpointDir) {
        Matcher m = STEP_NAME.matcher(checkpointDir.getFileName().toString());
        if (!m.matches()) throw new IllegalArgumentException(checkpointDir + " is not a checkpoint folder");
        return Long.parseLong(m.group(1));
    }

    /**
     * Moves the checkpoints of steps after {@code step} into {@code checkpoints/superseded/}: a run
     * that went back to an earlier step has left them, and a later resume must not take them.
     * Returns what it moved; {@code log} hears of it.
     */
    public List<Path> supersedeAfter(long step, Consumer<String> log) throws IOException {
        List<Path> moved = new ArrayList<>();
        for (Path d : stepsNewestFirst()) {
            if (stepOf(d) <= step) break;
            Path target = dir.resolve(SUPERSEDED).resolve(d.getFileName());
            Files.createDirectories(target.getParent());
            if (Files.exists(target)) deleteTree(target);
            Files.move(d, target, StandardCopyOption.ATOMIC_MOVE);
            moved.add(target);
        }
        if (!moved.isEmpty() && log != null) {
            log.accept("the checkpoints after step " + step + " were moved to " + dir.resolve(SUPERSEDED) + " ("
                    + String.join(", ", moved.stream().map(p -> p.getFileName().toString()).toList()) + ")");
        }
        return moved;
    }

    /** Keeps the newest {@code keep} checkpoints by step; never the one just written. */
    private void prune(Path justWritten) throws IOException {
        List<Path> others = new ArrayList<>(stepsNewestFirst());
        others.remove(justWritten);
        for (int i = keep - 1; i < others.size(); i++) deleteTree(others.get(i));
    }

    static boolean complete(Path d) {
        return Files.isRegularFile(d.resolve(MODEL)) && Files.isRegularFile(d.resolve(OPTIMIZER)) && Files.isRegularFile(d.resolve(STATE));
    }

    static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path q : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
        }
    }
}
