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

    private static List<String> names(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void stateJsonRecordsACrc32cOfEveryFile() throws IOException {
        Checkpoints c = new Checkpoints(run, 3, Checkpoints.WriteHook.NONE);
        Path d = c.write(snap(1), new TrainState(10, 0, 10, 0, 0, 40, 7));
        var files = dev.phalanx.io.Json.parse(Files.readString(d.resolve(Checkpoints.STATE))).get("files");
        for (String f : List.of(Checkpoints.MODEL, Checkpoints.OPTIMIZER)) {
            byte[] bytes = Files.readAllBytes(d.resolve(f));
            java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
            crc.update(bytes);
            assertEquals(String.format("%08x", crc.getValue()), files.get(f).get("crc32c").asText(), f);
            assertEquals(bytes.length, files.get(f).get("bytes").asLong(), f);
        }
    }

    @Test
    void aFlippedBitInTheTensorDataIsCaught() throws IOException {
        Checkpoints c = new Checkpoints(run, 3, Checkpoints.WriteHook.NONE);
        Path d = c.write(snap(1), new TrainState(10, 0, 10, 0, 0, 40, 7));
        Path model = d.resolve(Checkpoints.MODEL);
        byte[] b = Files.readAllBytes(model);
        b[b.length - 3] ^= 0x10; // inside fc.weight's last float: the file still parses
        Files.write(model, b);
        assertEquals(1, dev.phalanx.io.SafeTensors.read(model).tensors().size(), "the damage is invisible to the format");
        Checkpoints.DamagedException e = assertThrows(Checkpoints.DamagedException.class, () -> Checkpoints.read(d));
        assertTrue(e.getMessage().startsWith(model + ": CRC-32C ") && e.getMessage().contains("does not match")
                && e.getMessage().contains("recorded in state.json"), e.getMessage());
    }

    /** The damage done to the newest checkpoint's model file, and the words that must name it. */
    enum Damage {
        TRUNCATED("(truncated)"), EMPTY("is 0 bytes"), HEADER_OVERWRITTEN("does not match");

        final String said;

        Damage(String said) {
            this.said = said;
        }

        void apply(Path f) throws IOException {
            byte[] b = Files.readAllBytes(f);
            switch (this) {
                case TRUNCATED -> Files.write(f, java.util.Arrays.copyOf(b, b.length / 2));
                case EMPTY -> Files.write(f, new byte[0]);
                case HEADER_OVERWRITTEN -> {
                    for (int i = 8; i < 40; i++) b[i] = 'x';
                    Files.write(f, b);
                }
            }
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(Damage.class)
    void resumeTakesTheNewestCheckpointThatVerifiesAndNamesTheDamagedOne(Damage damage) throws IOException {
        Checkpoints c = new Checkpoints(run, 3, Checkpoints.WriteHook.NONE);
        c.write(snap(1), new TrainState(10, 0, 10, 0, 0, 40, 7));
        Path newest = c.write(snap(2), new TrainState(20, 0, 20, 0, 0, 80, 7));
        damage.apply(newest.resolve(Checkpoints.MODEL));
        List<String> warnings = new java.util.ArrayList<>();
        Checkpoints.Loaded l = c.resume(java.util.OptionalLong.empty(), warnings::add).orElseThrow();
        assertEquals(10, l.state().step());
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains(newest.resolve(Checkpoints.MODEL).toString()) && warnings.get(0).contains(damage.said), warnings.get(0));
    }

    @Test
    void aCheckpointWithoutStateJsonAndNoOtherIsRefusedByName() throws IOException {
        Checkpoints c = new Checkpoints(run, 3, Checkpoints.WriteHook.NONE);
        Path d = c.write(snap(1), new TrainState(10, 0, 10, 0, 0, 40, 7));
        Files.delete(d.resolve(Checkpoints.STATE));
        Checkpoints.DamagedException e = assertThrows(Checkpoints.DamagedException.class, () -> c.resume(java.util.OptionalLong.empty(), w -> { }));
        assertTrue(e.getMessage().contains(d.resolve(Checkpoints.STATE) + " is missing") && e.getMessage().contains("--overwrite"), e.getMessage());
    }

    @Test
    void resumeOfAStepTakesThatOne() throws IOException {
        Checkpoints c = new Checkpoints(run, 3, Checkpoints.WriteHook.NONE);
        c.write(snap(1), new TrainState(10, 0, 10, 0, 0, 40, 7));
        c.write(snap(2), new TrainState(20, 0, 20, 0, 0, 80, 7));
        assertEquals(10, c.resume(java.util.OptionalLong.of(10), w -> { }).orElseThrow().state().step());
        IOException e = assertThrows(IOException.class, () -> c.resume(java.util.OptionalLong.of(15), w -> { }));
        assertTrue(e.getMessage().contains("no checkpoint of step 15") && e.getMessage().contains("(there are: 20, 10)"), e.getMessage());
    }

    @Test
    void staleTemporaryFoldersOfAKilledWriterAreSwept() throws IOException {
        Checkpoints c = new Checkpoints(run, 3, Checkpoints.WriteHook.NONE);
        c.write(snap(1), new TrainState(10, 0, 10, 0, 0, 40, 7));
        Path stale = Files.createDirectories(run.resolve("checkpoints/.step-00000020.12345"));
        Files.writeString(stale.resolve(Checkpoints.MODEL), "half");
        Files.writeString(run.resolve("checkpoints/.latest.999.tmp"), "step-");
        assertEquals(List.of(".latest.999.tmp", ".step-00000020.12345"), c.sweep().stream().map(p -> p.getFileName().toString()).sorted().toList());
        assertEquals(List.of("latest", "step-00000010"), names(run.resolve("checkpoints")));
    }

    @Test
    void aLatestPointingOutsideTheRunFolderIsRefused() throws IOException {
        Checkpoints other = new Checkpoints(run.resolve("other"), 3, Checkpoints.WriteHook.NONE);
        Path foreign = other.write(snap(5), new TrainState(50, 0, 50, 0, 0, 200, 7));
        Checkpoints c = new Checkpoints(run.resolve("mine"), 3, Checkpoints.WriteHook.NONE);
        c.write(snap(1), new TrainState(10, 0, 10, 0, 0, 40, 7));
        for (String pointer : List.of(foreign.toString(), "../../other/checkpoints/step-00000050")) {
            Files.writeString(c.folder().resolve("latest"), pointer + "\n");
            Checkpoints.DamagedException e = assertThrows(Checkpoints.DamagedException.class, () -> c.resume(java.util.OptionalLong.empty(), w -> { }));
            assertTrue(e.getMessage().contains("names '" + pointer + "', which is not a checkpoint of this run folder"), e.getMessage());
        }
        Files.delete(c.folder().resolve("latest"));
        Files.createSymbolicLink(c.folder().resolve("step-00000060"), foreign);
        Checkpoints.DamagedException e = assertThrows(Checkpoints.DamagedException.class, () -> c.resume(java.util.OptionalLong.of(60), w -> { }));
        assertTrue(e.getMessage().contains("step-00000060 is a link to ") && e.getMessage().contains("outside its run folder"), e.getMessage());
        List<String> warnings = new java.util.ArrayList<>();
        assertEquals(10, c.resume(java.util.OptionalLong.empty(), warnings::add).orElseThrow().state().step(), "the run's own checkpoint");
        assertTrue(warnings.size() == 1 && warnings.get(0).contains("outside its run folder"), warnings.toString());
    }

    @Test
    void pruningNeverDeletesTheCheckpointJustWritten() throws IOException {
        Checkpoints c = new Checkpoints(run, 3, Checkpoints.WriteHook.NONE);
        for (int s = 80; s <= 100; s += 10) c.write(snap(s), new TrainState(s, 0, s, 0, 0, 4L * s, 7));
        // a run that went back to step 10: the later checkpoints are from the future it left
        Path written = c.write(snap(1), new TrainState(10, 0, 10, 0, 0, 40, 7));
        assertTrue(Files.isDirectory(written));
        assertEquals(10, c.latest().orElseThrow().state().step());
        assertEquals("step-00000010", Files.readString(c.folder().resolve("latest")).trim());
        assertEquals(List.of("step-00000080", "step-00000090", "step-00000100"), names(c.folder().resolve(Checkpoints.SUPERSEDED)));
        for (int s = 20; s <= 50; s += 10) c.write(snap(s), new TrainState(s, 0, s, 0, 0, 4L * s, 7));
        assertEquals(List.of("latest", "step-00000030", "step-00000040", "step-00000050", "superseded"), names(c.folder()));
    }
}
