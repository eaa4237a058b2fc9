package dev.phalanx.launcher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.phalanx.io.SafeTensors;
import dev.phalanx.tensor.Tensor;

/** Real JVMs killed with SIGKILL and interrupted with SIGINT, then resumed. */
class InterruptionTest {

    @TempDir
    Path tmp;

    private Path recipe() throws IOException {
        Path f = tmp.resolve("r.conf");
        Files.writeString(f, "data.set = fashion-mnist-sample\ntrain { batch-size = 8, evaluate = false, log-every = 50, checkpoint-every = 25, keep-checkpoints = 50 }\n"
                + "optimizer.lr = 0.01\n");
        return f;
    }

    /** Waits until the run folder's latest checkpoint has at least {@code step} steps. */
    private static void awaitCheckpoint(Path run, int step, Process p, Path log) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        Path latest = run.resolve("checkpoints/latest");
        while (System.nanoTime() < deadline) {
            if (Files.isRegularFile(latest)) {
                String name = Files.readString(latest).trim();
                if (name.startsWith("step-") && Integer.parseInt(name.substring(5)) >= step) return;
            }
            if (!p.isAlive()) fail("the training process ended early (exit " + p.exitValue() + "): " + Cli.read(log));
            Thread.sleep(20);
        }
        p.destroyForcibly();
        fail("no checkpoint of step " + step + " within 120 s: " + Cli.read(log));
    }

    private static void assertSameWeights(Path a, Path b) throws IOException {
        Map<String, Tensor> x = SafeTensors.read(a).tensors(), y = SafeTensors.read(b).tensors();
        assertEquals(x.keySet(), y.keySet());
        for (String k : x.keySet()) assertArrayEquals(x.get(k).data(), y.get(k).data(), 0f, k);
    }

    @Test
    void killedWithSigkillAndResumedEqualsNeverInterrupted() throws Exception {
        Path conf = recipe();
        Cli.Result straight = Cli.run("train", conf.toString(), "--max-steps", "300", "--out", tmp.resolve("straight").toString());
        assertEquals(0, straight.code(), straight.err());

        Path run = tmp.resolve("killed"), log = tmp.resolve("killed.log");
        Process p = Cli.start(log, "train", conf.toString(), "--max-steps", "300", "--out", run.toString());
        awaitCheckpoint(run, 100, p, log);
        p.destroyForcibly(); // SIGKILL: no shutdown hook, no last checkpoint
        assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        assertEquals(137, p.exitValue(), "killed by SIGKILL");
        Cli.Result resumed = Cli.run("train", conf.toString(), "--max-steps", "300", "--out", run.toString(), "--resume");
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.out().contains("Resuming from " + run.resolve("checkpoints")), resumed.out());
        assertSameWeights(tmp.resolve("straight/model.safetensors"), run.resolve("model.safetensors"));
    }

    @Test
    void ctrlCSavesACheckpointThenExits() throws Exception {
        Path conf = recipe();
        Path run = tmp.resolve("interrupted"), log = tmp.resolve("interrupted.log");
        Process p = Cli.start(log, "train", conf.toString(), "--max-steps", "100000", "--out", run.toString());
        awaitCheckpoint(run, 50, p, log);
        Process kill = new ProcessBuilder("kill", "-INT", Long.toString(p.pid())).start();
        assertEquals(0, kill.waitFor());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the process did not stop after SIGINT: " + Cli.read(log));
        String out = Cli.read(log);
        assertEquals(130, p.exitValue(), out);
        assertTrue(out.matches("(?s).*Interrupted at step (\\d+): checkpoint written to .*step-\\d+; continue with --resume.*"), out);
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("Interrupted at step (\\d+)").matcher(out);
        assertTrue(m.find());
        String latest = Files.readString(run.resolve("checkpoints/latest")).trim();
        assertEquals(String.format("step-%08d", Long.parseLong(m.group(1))), latest, "the checkpoint written on Ctrl-C is the latest");
    }
}
