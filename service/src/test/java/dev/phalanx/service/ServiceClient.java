package dev.phalanx.service;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** A client of a running service for tests (and a copyable example): JSON over java.net.http. */
public final class ServiceClient {

    /** A tiny run: the embedded Fashion-MNIST sample, batch 16, a loss point every 5 steps. */
    public static final String TINY = String.join("\n",
            "model = fashion-lenet",
            "data.set = fashion-mnist-sample",
            "train { epochs = 1, batch-size = 16, max-steps = 20, metrics-every = 5, log-every = 10, eval-batch-size = 500 }");

    static final ObjectMapper JSON = new ObjectMapper();
    private static final Duration TIMEOUT = Duration.ofSeconds(30);

    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final String base;
    private final String token;

    public ServiceClient(int port, String token) {
        this.base = "http://127.0.0.1:" + port;
        this.token = token;
    }

    public record Answer(int status, String body) {
        JsonNode json() {
            try {
                return JSON.readTree(body);
            } catch (IOException e) {
                throw new AssertionError("not JSON (" + status + "): " + body, e);
            }
        }
    }

    public Answer get(String path) throws IOException, InterruptedException {
        return send(request(path).GET().build());
    }

    public byte[] bytes(String path) throws IOException, InterruptedException {
        HttpResponse<byte[]> r = http.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofByteArray());
        if (r.statusCode() != 200) throw new AssertionError(path + ": " + r.statusCode() + " " + new String(r.body(), StandardCharsets.UTF_8));
        return r.body();
    }

    public Answer post(String path, String body) throws IOException, InterruptedException {
        return send(request(path).POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json").build());
    }

    /** POST /api/runs; the new run's id. */
    public String submit(String recipe, Map<String, Object> overrides) throws IOException, InterruptedException {
        Answer a = post("/api/runs", JSON.writeValueAsString(Map.of("recipe", recipe, "overrides", overrides)));
        if (a.status() != 201) throw new AssertionError("submit: " + a.status() + " " + a.body());
        return a.json().get("id").asText();
    }

    public JsonNode run(String id) throws IOException, InterruptedException {
        Answer a = get("/api/runs/" + id);
        if (a.status() != 200) throw new AssertionError(id + ": " + a.status() + " " + a.body());
        return a.json();
    }

    /** Polls the run until its state is one of {@code states}; fails after {@code limit}. */
    public JsonNode awaitState(String id, Duration limit, String... states) throws IOException, InterruptedException {
        long end = System.nanoTime() + limit.toNanos();
        JsonNode r;
        do {
            r = run(id);
            for (String s : states) if (s.equals(r.get("state").asText())) return r;
            Thread.sleep(50);
        } while (System.nanoTime() < end);
        throw new AssertionError("run " + id + " did not reach " + String.join("/", states) + " within " + limit + ": " + r);
    }

    /** Reads the run's event stream until the server ends it (the run ended) or {@code limit} passes. */
    public List<JsonNode> events(String id, Duration limit) throws IOException, InterruptedException {
        return events(id, limit, 0);
    }

    /** As {@link #events(String, Duration)}, resuming after event {@code lastEventId} (SSE's Last-Event-ID; 0: from the start). */
    public List<JsonNode> events(String id, Duration limit, long lastEventId) throws IOException, InterruptedException {
        HttpRequest.Builder b = request("/api/runs/" + id + "/events").timeout(limit).GET();
        if (lastEventId > 0) b.header("Last-Event-ID", Long.toString(lastEventId));
        HttpRequest req = b.build();
        HttpResponse<InputStream> r = http.send(req, HttpResponse.BodyHandlers.ofInputStream());
        if (r.statusCode() != 200) throw new AssertionError("events: " + r.statusCode());
        List<JsonNode> out = new ArrayList<>();
        InputStream body = r.body();
        Thread guard = new Thread(() -> { // bounds the wait: closing the stream ends the read below
            try {
                Thread.sleep(limit.toMillis());
                body.close();
            } catch (InterruptedException | IOException e) {
                // the stream ended first
            }
        }, "events-guard");
        guard.setDaemon(true);
        guard.start();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.startsWith("data:")) out.add(JSON.readTree(line.substring(5).trim()));
            }
        } catch (IOException e) {
            throw new AssertionError("the event stream did not end within " + limit + "; got " + out, e);
        } finally {
            guard.interrupt();
        }
        return out;
    }

    private HttpRequest.Builder request(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).timeout(TIMEOUT);
        if (token != null) b.header("Authorization", "Bearer " + token);
        return b;
    }

    private Answer send(HttpRequest r) throws IOException, InterruptedException {
        HttpResponse<String> resp = http.send(r, HttpResponse.BodyHandlers.ofString());
        return new Answer(resp.statusCode(), resp.body());
    }
}
