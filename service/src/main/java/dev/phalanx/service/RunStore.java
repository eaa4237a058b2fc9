package dev.phalanx.service;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;

import dev.phalanx.io.AtomicFiles;

/**
 * The runs on disk: one folder per run under the runs folder, named by its id, holding
 * {@code run.json} (its {@link RunRecord}, replaced atomically on every change) beside what the
 * trainer writes there. This is what lets the queue survive a restart of the service.
 */
public final class RunStore {

    static final String RECORD = "run.json";
    static final ObjectMapper JSON = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .disable(SerializationFeature.FAIL_ON_EMPTY_BEANS);

    private final Path root;

    public RunStore(Path root) throws IOException {
        this.root = root;
        Files.createDirectories(root);
    }

    public Path root() {
        return root;
    }

    public Path dir(String id) {
        return root.resolve(id);
    }

    /** Every run found, in queue order; a folder whose run.json does not read is skipped with a warning. */
    public List<RunRecord> load(java.io.PrintStream warnings) throws IOException {
        List<RunRecord> out = new ArrayList<>();
        try (Stream<Path> dirs = Files.list(root)) {
            for (Path d : dirs.filter(Files::isDirectory).toList()) {
                Path f = d.resolve(RECORD);
                if (!Files.isRegularFile(f)) continue;
                try {
                    out.add(JSON.readValue(f.toFile(), RunRecord.class));
                } catch (IOException e) {
                    warnings.println("warning: " + f + " does not read as a run (" + e.getMessage().lines().findFirst().orElse("") + "); skipped");
                }
            }
        }
        out.sort(Comparator.comparingLong(RunRecord::seq));
        return out;
    }

    public void save(RunRecord r) {
        try {
            Files.createDirectories(dir(r.id()));
            AtomicFiles.writeBytes(dir(r.id()).resolve(RECORD), JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(r));
        } catch (IOException e) {
            throw new UncheckedIOException("could not write " + dir(r.id()).resolve(RECORD) + ": " + e.getMessage(), e);
        }
    }
}
