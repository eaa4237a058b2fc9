package dev.phalanx.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.phalanx.parallel.Replica;
import dev.phalanx.tensor.Tensor;

class CheckpointsTest {

    @TempDir
    Path run;

    private static Replica.Snapshot snap(float v) {
        return new Replica.Snapshot(Map.of("fc.weight", Tensor.full(v, 2, 3)), Map.of("state.0.momentum_buffer", Tensor.full(-v, 2, 3)));
    }

    @Test
    void roundTripAndLatest() throws IOException {
        Checkpoints c = new Checkpoints(run, 2, Checkpoints.WriteHook.NONE);
        c.write(snap(1), new TrainState(10, 0, 10, 1.5, 3, 40, 7));
        c.write(snap(2), new TrainState(20, 0, 20, 0, 0, 80, 7));
        Checkpoints.Loaded l = c.latest().orElseThrow();
        assertEquals(run.resolve("checkpoints/step-00000020"), l.dir());
        assertArrayEquals(Tensor.full(2, 2, 3).data(), l.snapshot().model().get("fc.weight").data());
        assertArrayEquals(Tensor.full(-2, 2, 3).data(), l.snapshot().optimizer().get("state.0.momentum_buffer").data());
        assertEquals(new TrainState(20, 0, 20, 0, 0, 80, 7), l.state());
        c.write(snap(3), new TrainState(30, 1, 0, 0, 0, 120, 7));
        try (var s = Files.list(run.resolve("checkpoints"))) {
            assertEquals(List.of("latest", "step-00000020", "step-00000030"), s.map(p -> p.getFileName().toString()).sorted().toList(),
                    "keeps the last 2 and nothing half-written");
        }
    }

    @Test
    void aFullDiskKeepsThePreviousCheckpoint() throws IOException {
        int[] calls = {0};
        Checkpoints c = new Checkpoints(run, 3, file -> {
            if (++calls[0] > 4 && file.getFileName().toString().equals(Checkpoints.OPTIMIZER)) {
                throw new IOException("No space left on device");
            }
        });
        c.write(snap(1), new TrainState(10, 0, 10, 0, 0, 40, 7));
        IOException e = assertThrows(IOException.class, () -> c.write(snap(2), new TrainState(20, 0, 20, 0, 0, 80, 7)));
        assertEquals("No space left on device", e.getMessage());
        Checkpoints.Loaded l = c.latest().orElseThrow();
        assertEquals(10, l.state().step());
        assertArrayEquals(Tensor.full(1, 2, 3).data(), l.snapshot().model().get("fc.weight").data());
        try (var s = Files.list(run.resolve("checkpoints"))) {
            assertEquals(List.of("latest", "step-00000010"), s.map(p -> p.getFileName().toString()).sorted().toList(),
                    "the failed checkpoint's temporary folder is removed");
        }
    }

    @Test
    void anIncompleteFolderIsNeverTakenForACheckpoint() throws IOException {
        Checkpoints c = new Checkpoints(run, 3, Checkpoints.WriteHook.NONE);
        c.write(snap(1), new TrainState(10, 0, 10, 0, 0, 40, 7));
        Path torn = run.resolve("checkpoints/step-00000020");
        Files.createDirectories(torn);
        Files.writeString(torn.resolve(Checkpoints.MODEL), "half");
        Files.writeString(run.resolve("checkpoints/latest"), "step-00000020\n");
        assertEquals(10, c.latest().orElseThrow().state().step());
        IOException e = assertThrows(IOException.class, () -> Checkpoints.read(torn));
        assertTrue(e.getMessage().contains("is not a complete checkpoint"), e.getMessage());
    }
}
