package dev.phalanx.service;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;

import dev.phalanx.io.SafeTensors;
import dev.phalanx.nn.Module;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.train.Recipe;

/** The HTTP API against a real server on 127.0.0.1 (a free port), with tiny runs on the embedded sample. */
class ServiceHttpTest {

    static final String TOKEN = "test-token-0123456789";
    static final Duration RUN_LIMIT = Duration.ofSeconds(90);

    @TempDir
    Path runs;
    ActorSystem<Void> system;
    PhalanxServer server;
    ServiceClient api;

    @BeforeEach
    void start() throws Exception {
        system = ActorSystem.create(Behaviors.empty(), "service-test", ConfigFactory.parseString("pekko.loglevel = WARNING")
                .withFallback(ConfigFactory.load()));
        server = PhalanxServer.start(system, new PhalanxServer.Settings("127.0.0.1", 0, runs, 1, TOKEN, null, null),
                new PrintStream(new ByteArrayOutputStream(), true));
        api = new ServiceClient(server.port(), TOKEN);
    }

    @AfterEach
    void stop() throws Exception {
        if (server != null) server.close();
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
    }

    @Test
    void withoutTheTokenEveryCallIs401AndNothingHappens() throws Exception {
        for (String token : new String[] {null, "wrong", TOKEN + "x"}) {
            ServiceClient other = new ServiceClient(server.port(), token);
            ServiceClient.Answer a = other.post("/api/runs", "{\"recipe\": " + ServiceClient.JSON.writeValueAsString(ServiceClient.TINY) + "}");
            assertEquals(401, a.status(), a.body());
            assertTrue(a.json().get("error").asText().contains("Bearer"), a.body());
            assertEquals(401, other.get("/api/runs").status());
            assertEquals(401, other.get("/metrics").status());
            assertEquals(401, other.post("/api/runs/run-000000/stop", "").status());
        }
        assertEquals(0, api.get("/api/runs").json().size(), "no run was created");
        try (var dirs = Files.list(runs)) {
            assertTrue(dirs.noneMatch(Files::isDirectory), "no run folder was created");
        }
        assertEquals(200, new ServiceClient(server.port(), null).get("/").status(), "the dashboard page itself holds no data");
    }

    @Test
    void aRunFinishesAndItsWeightsLoadBack() throws Exception {
        String id = api.submit(ServiceClient.TINY, Map.of("train.seed", 3));
        JsonNode r = api.awaitState(id, RUN_LIMIT, "finished", "failed");
        assertEquals("finished", r.get("state").asText(), r.toString());
        assertEquals(20, r.get("step").asLong());
        assertTrue(r.get("loss").asDouble() > 0 && r.get("accuracy").asDouble() > 0, r.toString());
        assertTrue(r.get("imagesPerSecond").asDouble() > 0, r.toString());

        byte[] weights = api.bytes("/api/runs/" + id + "/model.safetensors");
        assertArrayEquals(Files.readAllBytes(runs.resolve(id).resolve("model.safetensors")), weights);
        Map<String, Tensor> state = SafeTensors.parse(weights, "download").tensors();
        Module net = new LeNet(1, 28, 10, new Generator(0));
        net.loadStateDict(state);
        assertEquals(net.stateDict().keySet(), state.keySet());
        assertArrayEquals(state.get("fc3.bias").data(), net.stateDict().get("fc3.bias").data());

        String csv = new String(api.bytes("/api/runs/" + id + "/metrics.csv"), StandardCharsets.UTF_8);
        List<Long> steps = new ArrayList<>();
        for (String line : csv.split("\n")) if (!line.startsWith("step") && line.split(",").length > 2 && !line.split(",")[2].isEmpty()) {
            steps.add(Long.parseLong(line.split(",")[0]));
        }
        assertEquals(List.of(5L, 10L, 15L, 20L), steps, "a loss point every train.metrics-every = 5 steps:\n" + csv);
        assertTrue(api.bytes("/api/runs/" + id + "/samples.png").length > 100);
        JsonNode ev = ServiceClient.JSON.readTree(api.bytes("/api/runs/" + id + "/evaluation.json"));
        assertEquals(10, ev.get("confusion").size());
        assertEquals(32, ev.get("samples").size());

        String prom = api.get("/metrics").body();
        assertTrue(prom.contains("phalanx_run_steps{run=\"" + id + "\",state=\"finished\"} 20\n"), prom);
        assertTrue(prom.contains("phalanx_runs{state=\"finished\"} 1"), prom);
        assertTrue(prom.contains("# TYPE phalanx_replicas gauge"), prom);
    }

    @Test
    void aBadRecipeIs400WithTheCliMessageAndQueuesNothing() throws Exception {
        String bad = "model = fashion-lenet\ntrain.epoch = 2\n";
        String expected = assertThrows(Recipe.RecipeException.class, () -> Recipe.parse(bad, Recipes.SOURCE)).getMessage();
        ServiceClient.Answer a = api.post("/api/runs", ServiceClient.JSON.writeValueAsString(Map.of("recipe", bad)));
        assertEquals(400, a.status());
        assertEquals(expected, a.json().get("error").asText());
        assertTrue(expected.startsWith("recipe: unknown key 'train.epoch' (line 2)"), expected);

        a = api.post("/api/runs", ServiceClient.JSON.writeValueAsString(Map.of("recipe", ServiceClient.TINY, "overrides", Map.of("train.batch-size", 0))));
        assertEquals(400, a.status());
        assertEquals("recipe: train.batch-size must be >= 1, got 0", a.json().get("error").asText());
        assertEquals(400, api.post("/api/runs", "{not json").status());
        assertEquals(0, api.get("/api/runs").json().size());
        assertEquals(404, api.get("/api/runs/run-999999").status());
    }

    @Test
    void aStoppedRunResumesAndEndsWithTheBitsOfAnUninterruptedOne() throws Exception {
        Map<String, Object> longer = Map.of("train.max-steps", 100, "train.checkpoint-every", 1000, "train.evaluate", false);
        String id = api.submit(ServiceClient.TINY, longer);
        api.awaitState(id, RUN_LIMIT, "running");
        while (api.run(id).get("step").asLong() < 10) Thread.sleep(20);
        ServiceClient.Answer stop = api.post("/api/runs/" + id + "/stop", "");
        assertEquals(202, stop.status(), stop.body());
        JsonNode r = api.awaitState(id, RUN_LIMIT, "stopped", "finished", "failed");
        assertEquals("stopped", r.get("state").asText(), "stopped before its 100 steps: " + r);
        long stoppedAt = r.get("step").asLong();
        assertTrue(stoppedAt >= 10 && stoppedAt < 100, r.toString());
        assertTrue(Files.isRegularFile(runs.resolve(id).resolve("checkpoints/latest")), "stop writes a checkpoint");
        assertEquals(409, api.post("/api/runs/" + id + "/stop", "").status(), "a stopped run has nothing to stop");

        assertEquals(202, api.post("/api/runs/" + id + "/resume", "").status());
        r = api.awaitState(id, RUN_LIMIT, "finished", "failed");
        assertEquals("finished", r.get("state").asText(), r.toString());
        assertEquals(100, r.get("step").asLong());
        assertTrue(Files.readString(runs.resolve(id).resolve("train.log")).contains("Resuming from"), "it resumed, not restarted");

        String whole = api.submit(ServiceClient.TINY, longer);
        assertEquals("finished", api.awaitState(whole, RUN_LIMIT, "finished", "failed").get("state").asText());
        assertArrayEquals(api.bytes("/api/runs/" + whole + "/model.safetensors"), api.bytes("/api/runs/" + id + "/model.safetensors"),
                "stopped at step " + stoppedAt + " and resumed: the same bits as a run never stopped");
    }

    @Test
    void aRunThatCannotTrainFailsWithItsReasonAndTheQueueGoesOn() throws Exception {
        Path empty = Files.createDirectories(runs.resolve("no-data-here"));
        String broken = api.submit("model = cifar-lenet\ndata.set = cifar10\ndata.mean = [0.5, 0.5, 0.5]\ndata.std = [0.5, 0.5, 0.5]",
                Map.of("data.path", empty.toString()));
        String next = api.submit(ServiceClient.TINY, Map.of("train.max-steps", 5, "train.evaluate", false));
        JsonNode r = api.awaitState(broken, RUN_LIMIT, "failed", "finished");
        assertEquals("failed", r.get("state").asText());
        assertTrue(r.get("error").asText().contains(empty.toString()), "the error names the folder it looked in: " + r);
        assertFalse(r.get("error").asText().contains("\n"), "one line: " + r);
        assertEquals("finished", api.awaitState(next, RUN_LIMIT, "finished", "failed").get("state").asText(), "the next run still runs");
        assertEquals(404, api.get("/api/runs/" + broken + "/model.safetensors").status());
        assertEquals(409, api.post("/api/runs/" + next + "/resume", "").status(), "a finished run is not resumed");
    }

    @Test
    void theEventStreamDeliversEveryEventInOrder() throws Exception {
        String id = api.submit(ServiceClient.TINY, Map.of("train.max-steps", 30));
        List<JsonNode> events = api.events(id, RUN_LIMIT); // from the start: replayed, then live, until the run ends
        List<Long> seqs = new ArrayList<>(), metricSteps = new ArrayList<>();
        List<String> states = new ArrayList<>();
        for (JsonNode e : events) {
            seqs.add(e.get("seq").asLong());
            switch (e.get("type").asText()) {
                case "metrics" -> metricSteps.add(e.get("step").asLong());
                case "state" -> states.add(e.get("state").asText());
                default -> { }
            }
        }
        for (int i = 0; i < seqs.size(); i++) assertEquals(i + 1, seqs.get(i), "events numbered 1, 2, 3, ... in order: " + seqs);
        assertEquals(List.of(5L, 10L, 15L, 20L, 25L, 30L), metricSteps);
        assertEquals(List.of("queued", "running", "finished"), states);
        JsonNode epoch = events.stream().filter(e -> e.get("type").asText().equals("epoch")).findFirst().orElseThrow();
        assertEquals(30, epoch.get("step").asLong());
        assertEquals(10, epoch.get("perClass").size());
        assertEquals("epoch", events.get(events.size() - 2).get("type").asText());

        List<JsonNode> replay = api.events(id, Duration.ofSeconds(10)); // an ended run: the whole history, then the stream ends
        assertEquals(events.toString(), replay.toString());
        List<JsonNode> rest = api.events(id, Duration.ofSeconds(10), 3); // a client reconnecting after event 3
        assertEquals(events.subList(3, events.size()).toString(), rest.toString());
    }

    @Test
    void twoRunsQueuedRunOneAtATimeAndBothFinish() throws Exception {
        Map<String, Object> over = Map.of("train.max-steps", 60, "train.evaluate", false);
        String first = api.submit(ServiceClient.TINY, over);
        String second = api.submit(ServiceClient.TINY, over);
        boolean sawQueuedBehindRunning = false;
        long end = System.nanoTime() + RUN_LIMIT.toNanos();
        while (System.nanoTime() < end) {
            String a = api.run(first).get("state").asText(), b = api.run(second).get("state").asText();
            assertFalse(a.equals("running") && b.equals("running"), "one run at a time by default");
            if (a.equals("running") && b.equals("queued")) sawQueuedBehindRunning = true;
            if (a.equals("finished") && b.equals("finished")) break;
            Thread.sleep(10);
        }
        assertTrue(sawQueuedBehindRunning, "the second run waited while the first ran");
        assertEquals("finished", api.run(first).get("state").asText());
        assertEquals("finished", api.run(second).get("state").asText());
        assertEquals(2, api.get("/api/runs").json().size());
    }
}
