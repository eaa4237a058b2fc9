package dev.phalanx.launcher;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;

import dev.phalanx.service.ServiceClient;

/** {@code phalanx serve} in real child JVMs: killed with SIGKILL mid-run, restarted, and the run ends as if never killed. */
class ServeCommandTest {

    static final String TOKEN = "serve-test-token";
    static final Duration LIMIT = Duration.ofSeconds(120);
    static final Pattern SERVING = Pattern.compile("Phalanx serving on http://127\\.0\\.0\\.1:(\\d+)/");

    @TempDir
    Path tmp;

    /** A serve JVM with its port, read from its first lines. */
    private record Serve(Process process, int port, Path log) { }

    private Serve serve(Path runs, String logName) throws Exception {
        Path log = tmp.resolve(logName);
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(List.of("serve", "--bind", "127.0.0.1:0", "--runs", runs.toString()));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().put("PHALANX_TOKEN", TOKEN);
        Process p = pb.start();
        long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < end && p.isAlive()) {
            Matcher m = SERVING.matcher(Cli.read(log));
            if (m.find()) return new Serve(p, Integer.parseInt(m.group(1)), log);
            Thread.sleep(50);
        }
        p.destroyForcibly();
        throw new AssertionError("phalanx serve did not start within 60 s:\n" + Cli.read(log));
    }

    @Test
    void aRunOnWhenTheServiceIsKilledResumesAtRestartAndEndsWithTheBitsOfAnUninterruptedRun() throws Exception {
        Path runs = tmp.resolve("runs");
        Map<String, Object> over = Map.of("train.max-steps", 80, "train.checkpoint-every", 15, "train.evaluate", false);
        Serve first = serve(runs, "serve-1.log");
        String id;
        long killedAt;
        try {
            ServiceClient api = new ServiceClient(first.port(), TOKEN);
            id = api.submit(ServiceClient.TINY, over);
            long end = System.nanoTime() + LIMIT.toNanos();
            while (api.run(id).get("step").asLong() < 35) {
                if (System.nanoTime() > end) throw new AssertionError("no progress: " + api.run(id));
                Thread.sleep(10);
            }
            first.process().destroyForcibly(); // SIGKILL: no shutdown hook, no last checkpoint
            assertTrue(first.process().waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
            killedAt = ServiceClientFiles.step(runs.resolve(id));
        } finally {
            first.process().destroyForcibly();
        }
        assertTrue(killedAt < 80, "killed before the end (run.json says step " + killedAt + ")");

        Serve second = serve(runs, "serve-2.log");
        try {
            ServiceClient api = new ServiceClient(second.port(), TOKEN);
            JsonNode r = api.awaitState(id, LIMIT, "finished", "failed");
            assertEquals("finished", r.get("state").asText(), r + "\n" + Cli.read(runs.resolve(id).resolve("train.log")));
            assertEquals(80, r.get("step").asLong());
            String trainLog = Files.readString(runs.resolve(id).resolve("train.log"));
            assertTrue(trainLog.contains("Resuming from"), "resumed from a checkpoint, not started again:\n" + trainLog);

            String whole = api.submit(ServiceClient.TINY, over);
            assertEquals("finished", api.awaitState(whole, LIMIT, "finished", "failed").get("state").asText());
            assertArrayEquals(api.bytes("/api/runs/" + whole + "/model.safetensors"), api.bytes("/api/runs/" + id + "/model.safetensors"),
                    "killed at step " + killedAt + " and resumed: the bits of a run never killed");
        } finally {
            second.process().destroy(); // SIGTERM: the shutdown hook closes the server and the ActorSystem
            boolean ended = second.process().waitFor(60, java.util.concurrent.TimeUnit.SECONDS);
            second.process().destroyForcibly();
            assertTrue(ended, "serve ends within 60 s of SIGTERM:\n" + Cli.read(second.log()));
        }
    }

    @Test
    void aBadBindAddressIsOneLine() {
        Cli.Result r = Cli.run("serve", "--bind", "localhost", "--runs", tmp.resolve("runs").toString());
        assertEquals(1, r.code());
        assertEquals("phalanx serve: --bind localhost: expected host:port, such as 127.0.0.1:8080", r.err().strip());
        r = Cli.run("serve", "--bind", "127.0.0.1:http", "--runs", tmp.resolve("runs").toString());
        assertEquals("phalanx serve: --bind 127.0.0.1:http: the port must be a number", r.err().strip());
    }

    /** Reads a run's step from its run.json, with the service down. */
    static final class ServiceClientFiles {
        static long step(Path runDir) throws IOException {
            return new com.fasterxml.jackson.databind.ObjectMapper().readTree(runDir.resolve("run.json").toFile()).get("step").asLong();
        }
    }
}
