package dev.phalanx.service;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Headless Chromium driven over the DevTools protocol (a WebSocket from java.net.http): enough
 * to open a page, run JavaScript in it and take a screenshot. Every wait is bounded.
 */
final class Chromium implements AutoCloseable {

    static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);
    private static final Pattern DEVTOOLS = Pattern.compile("DevTools listening on (ws://[^\\s]+)");
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Process process;
    private final WebSocket socket;
    private final Map<Long, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    private final AtomicLong ids = new AtomicLong();

    /** Chromium's binary: PHALANX_CHROMIUM, else Debian's {@code chromium} (apt-get install chromium), else none. */
    static Optional<Path> find() {
        String env = System.getenv("PHALANX_CHROMIUM");
        if (env != null && Files.isExecutable(Path.of(env))) return Optional.of(Path.of(env));
        for (String p : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")) {
            if (Files.isExecutable(Path.of(p))) return Optional.of(Path.of(p));
        }
        return Optional.empty();
    }

    private Chromium(Process process, WebSocket socket) {
        this.process = process;
        this.socket = socket;
    }

    static Chromium start(Path binary, Path profile, int width, int height) throws Exception {
        Path log = profile.resolve("chromium.log");
        Files.createDirectories(profile);
        List<String> cmd = new ArrayList<>(List.of(binary.toString(), "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--remote-debugging-port=0",
                "--remote-allow-origins=*", "--user-data-dir=" + profile.resolve("profile"), "--window-size=" + width + "," + height,
                "about:blank"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        String browserUrl = null;
        long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (browserUrl == null && System.nanoTime() < end && p.isAlive()) {
            Matcher m = DEVTOOLS.matcher(Files.readString(log));
            if (m.find()) browserUrl = m.group(1);
            else Thread.sleep(50);
        }
        if (browserUrl == null) {
            p.destroyForcibly();
            throw new AssertionError("chromium did not open its DevTools port within 60 s:\n" + Files.readString(log));
        }
        // the page target, from the browser's /json/list
        URI browser = URI.create(browserUrl);
        HttpClient http = HttpClient.newHttpClient();
        String pageUrl = null;
        while (pageUrl == null && System.nanoTime() < end) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://" + browser.getHost() + ":" + browser.getPort() + "/json/list"))
                    .timeout(CALL_TIMEOUT).build(), HttpResponse.BodyHandlers.ofString());
            for (JsonNode t : JSON.readTree(r.body())) {
                if (t.get("type").asText().equals("page")) pageUrl = t.get("webSocketDebuggerUrl").asText();
            }
            if (pageUrl == null) Thread.sleep(50);
        }
        if (pageUrl == null) {
            p.destroyForcibly();
            throw new AssertionError("chromium showed no page target");
        }
        Chromium[] self = new Chromium[1];
        StringBuilder partial = new StringBuilder();
        WebSocket ws = http.newWebSocketBuilder().connectTimeout(CALL_TIMEOUT).buildAsync(URI.create(pageUrl), new WebSocket.Listener() {
            @Override
            public CompletionStage<?> onText(WebSocket webSocket, CharSequence data, boolean last) {
                partial.append(data);
                if (last) {
                    String message = partial.toString();
                    partial.setLength(0);
                    while (self[0] == null) Thread.onSpinWait();
                    self[0].received(message);
                }
                webSocket.request(1);
                return null;
            }
        }).get(CALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        self[0] = new Chromium(p, ws);
        return self[0];
    }

    private void received(String message) {
        try {
            JsonNode n = JSON.readTree(message);
            if (n.has("id")) {
                CompletableFuture<JsonNode> f = pending.remove(n.get("id").asLong());
                if (f != null) f.complete(n);
            }
        } catch (IOException e) {
            // not JSON: ignored
        }
    }

    /** One DevTools command; its {@code result}, or an AssertionError with the protocol's error. */
    JsonNode call(String method, Map<String, Object> params) throws Exception {
        long id = ids.incrementAndGet();
        CompletableFuture<JsonNode> f = new CompletableFuture<>();
        pending.put(id, f);
        socket.sendText(JSON.writeValueAsString(Map.of("id", id, "method", method, "params", params)), true).get(CALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        JsonNode n = f.get(CALL_TIMEOUT.toSeconds(), TimeUnit.SECONDS);
        if (n.has("error")) throw new AssertionError(method + ": " + n.get("error"));
        return n.get("result");
    }

    /** Evaluates a JavaScript expression in the page (awaiting a promise) and returns its value. */
    JsonNode eval(String expression) throws Exception {
        JsonNode r = call("Runtime.evaluate", Map.of("expression", expression, "returnByValue", true, "awaitPromise", true));
        if (r.has("exceptionDetails")) throw new AssertionError("JavaScript failed: " + r.get("exceptionDetails"));
        return r.path("result").path("value");
    }

    byte[] screenshot() throws Exception {
        return java.util.Base64.getDecoder().decode(call("Page.captureScreenshot", Map.of("format", "png")).get("data").asText());
    }

    @Override
    public void close() throws Exception {
        try {
            call("Browser.close", Map.of());
        } catch (Exception | AssertionError e) {
            // killed below
        }
        socket.abort();
        if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly();
        process.waitFor(10, TimeUnit.SECONDS);
    }
}
