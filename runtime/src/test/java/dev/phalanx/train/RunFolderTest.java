package dev.phalanx.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The run folder's lock within one process, and what sweeping and --overwrite touch (and what they leave). */
class RunFolderTest {

    @TempDir
    Path run;

    private List<String> names() throws IOException {
        try (var s = Files.list(run)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void aSecondLockInTheSameProcessIsRefusedAndAReleasedOneIsFree() throws IOException {
        try (RunFolder first = RunFolder.lock(run)) {
            RunFolder.InUseException e = assertThrows(RunFolder.InUseException.class, () -> RunFolder.lock(run));
            assertEquals(run + " is in use by another run in this process (PID " + ProcessHandle.current().pid()
                    + "); train into another folder with --out", e.getMessage());
            assertEquals(ProcessHandle.current().pid() + "", Files.readString(run.resolve(RunFolder.LOCK)).trim());
        }
        try (RunFolder again = RunFolder.lock(run)) {
            assertEquals(run, again.dir());
        }
    }

    @Test
    void sweepingAndOverwritingTouchOnlyARunsOwnFiles() throws IOException {
        for (String f : List.of(".model.safetensors.123.tmp", ".metrics.csv.9.tmp", ".run.json.5.tmp", "notes.txt", "model.safetensors",
                "metrics.csv", "report.html", "recipe.conf", Trainer.RECIPE_CHANGES, "events.out.tfevents.1.host", "train.log")) {
            Files.writeString(run.resolve(f), "x");
        }
        Files.createDirectories(run.resolve("checkpoints/step-00000010"));
        try (RunFolder folder = RunFolder.lock(run)) {
            assertEquals(2, folder.sweep().size());
            assertEquals(7, folder.clearOutputs(new Checkpoints(run, 3, Checkpoints.WriteHook.NONE)).size());
        }
        assertEquals(List.of(".run.json.5.tmp", "notes.txt", RunFolder.LOCK, "train.log"), names());
    }
}
