package dev.phalanx.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Run folders as a user meets them from the command line: one run at a time, damage named, errors in one line. */
class RunFolderTest {

    @TempDir
    Path tmp;

    private Path recipe() throws IOException {
        Path f = tmp.resolve("r.conf");
        Files.writeString(f, "data.set = fashion-mnist-sample\ntrain { batch-size = 8, evaluate = false, log-every = 50, checkpoint-every = 10 }\n"
                + "optimizer.lr = 0.01\n");
        return f;
    }

    private static void assertOneLine(Cli.Result r) {
        assertEquals(1, r.code(), r.out() + r.err());
        assertEquals(1, r.err().lines().count(), "one line: " + r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
    }

    @Test
    void aSecondRunIntoAFolderInUseRefusesAndAKilledHolderLeavesNoStaleLock() throws Exception {
        Path conf = recipe(), run = tmp.resolve("run"), log = tmp.resolve("holder.log");
        Process holder = Cli.start(log, "train", conf.toString(), "--max-steps", "100000", "--out", run.toString());
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.isDirectory(run.resolve("checkpoints/step-00000010"))) {
                if (!holder.isAlive()) fail("the first run ended early (exit " + holder.exitValue() + "): " + Cli.read(log));
                if (System.nanoTime() > deadline) fail("no checkpoint within 120 s: " + Cli.read(log));
                Thread.sleep(20);
            }
            Cli.Result second = Cli.run("train", conf.toString(), "--max-steps", "5", "--seed", "2", "--out", run.toString());
            assertOneLine(second);
            assertEquals("phalanx train: " + run + " is in use by another run (PID " + holder.pid()
                    + "); wait for it to end, or train into another folder with --out", second.err().trim());
            Cli.Result resume = Cli.run("train", conf.toString(), "--out", run.toString(), "--resume");
            assertOneLine(resume);
            assertTrue(resume.err().contains("(PID " + holder.pid() + ")"), resume.err());
        } finally {
            holder.destroyForcibly(); // SIGKILL: the kernel drops the lock with the process
            assertTrue(holder.waitFor(30, TimeUnit.SECONDS));
        }
        assertEquals(137, holder.exitValue());
        assertTrue(Files.isRegularFile(run.resolve("run.lock")), "the lock file stays; only the lock on it is gone");
        long step = Long.parseLong(Files.readString(run.resolve("checkpoints/latest")).trim().substring("step-".length()));
        Cli.Result after = Cli.run("train", conf.toString(), "--out", run.toString(), "--resume", "--max-steps", Long.toString(step + 2));
        assertEquals(0, after.code(), after.err());
        assertTrue(after.out().contains("changed on resume: train.max-steps 100000 -> " + (step + 2) + " (command line)"), after.out());
        assertTrue(after.out().contains("Finished Training: " + (step + 2) + " steps"), after.out());
    }

    @Test
    void resumeOfAStepAndOverwriteFromTheCommandLine() throws IOException {
        Path conf = recipe(), run = tmp.resolve("steps");
        assertEquals(0, Cli.run("train", conf.toString(), "--max-steps", "30", "--out", run.toString()).code());
        Cli.Result again = Cli.run("train", conf.toString(), "--max-steps", "30", "--out", run.toString());
        assertOneLine(again);
        assertTrue(again.err().contains("holds the checkpoints of another run (the newest: step-00000030)"), again.err());
        Cli.Result back = Cli.run("train", conf.toString(), "--max-steps", "25", "--out", run.toString(), "--resume=20");
        assertEquals(0, back.code(), back.err());
        assertTrue(back.out().contains("Resuming from " + run.resolve("checkpoints/step-00000020")), back.out());
        assertTrue(Files.isDirectory(run.resolve("checkpoints/superseded/step-00000030")), "the left future is kept aside");
        assertEquals("step-00000025", Files.readString(run.resolve("checkpoints/latest")).trim());
        Cli.Result over = Cli.run("train", conf.toString(), "--max-steps", "5", "--out", run.toString(), "--overwrite");
        assertEquals(0, over.code(), over.err());
        assertTrue(over.out().contains("--overwrite: deleted the earlier run's checkpoints"), over.out());
        assertOneLine(Cli.run("train", conf.toString(), "--out", run.toString(), "--overwrite", "--resume"));
        Cli.Result before = Cli.run("train", "--max-steps", "6", "--out", run.toString(), "--resume", conf.toString());
        assertEquals(0, before.code(), "--resume takes a step only as --resume=STEP, never the recipe after it: " + before.err());
        assertTrue(before.out().contains("Resuming from " + run.resolve("checkpoints/step-00000005")), before.out());
    }

    @Test
    void evalOfADamagedCheckpointNamesTheFileAndTheFault() throws IOException {
        Path conf = recipe(), run = tmp.resolve("eval");
        assertEquals(0, Cli.run("train", conf.toString(), "--max-steps", "10", "--out", run.toString()).code());
        Path cp = run.resolve("checkpoints/step-00000010"), model = cp.resolve("model.safetensors");
        byte[] b = Files.readAllBytes(model);
        b[b.length - 5] ^= 4;
        Files.write(model, b);
        Cli.Result flipped = Cli.run("eval", cp.toString());
        assertOneLine(flipped);
        assertTrue(flipped.err().startsWith("phalanx eval: " + model + ": CRC-32C ") && flipped.err().contains("recorded in state.json"), flipped.err());
        Files.write(model, java.util.Arrays.copyOf(b, 100));
        Cli.Result cut = Cli.run("eval", cp.toString());
        assertOneLine(cut);
        assertTrue(cut.err().startsWith("phalanx eval: " + model + " is 100 bytes, but state.json records " + b.length + " (truncated)"), cut.err());
    }

    @Test
    void aFileOf3GbIsOneLine() throws IOException {
        Path huge = tmp.resolve("huge.safetensors");
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(huge.toFile(), "rw")) {
            f.setLength(3L << 30); // sparse
        }
        Cli.Result r = Cli.run("eval", huge.toString(), "--recipe", recipe().toString());
        assertOneLine(r);
        assertTrue(r.err().contains("the file is 3,221,225,472 bytes"), r.err());
    }

    @Test
    void aBatchThatDoesNotFitTheHeapIsOneLine() throws Exception {
        Path conf = recipe(), log = tmp.resolve("oom.log");
        Process p = Cli.startJvm(log, List.of("-Xmx48m"), "train", conf.toString(), "--batch-size", "3000", "--max-steps", "1",
                "--out", tmp.resolve("oom").toString());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the run ended: " + Cli.read(log));
        String out = Cli.read(log);
        assertEquals(1, p.exitValue(), out);
        String last = out.lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.startsWith("phalanx train: out of memory (Java heap space"), out);
        assertTrue(last.contains("use a smaller batch size"), out);
        assertFalse(out.contains("\tat "), "no stack trace: " + out);
    }
}
