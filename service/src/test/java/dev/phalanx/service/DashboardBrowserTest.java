package dev.phalanx.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;

import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.fasterxml.jackson.databind.JsonNode;
import com.typesafe.config.ConfigFactory;

/**
 * The dashboard in headless Chromium: open it, start a run with its button, and see the loss
 * curve and the labelled image grid appear. Skipped, with the reason, where Chromium is not
 * installed ({@code apt-get install chromium}). Leaves a screenshot in
 * {@code service/target/dashboard.png} (the README's {@code docs/dashboard.png} is one).
 */
class DashboardBrowserTest {

    static final String TOKEN = "browser-test-token";
    static final Duration LIMIT = Duration.ofSeconds(120);

    @TempDir
    Path tmp;

    @Test
    void startsARunAndShowsTheLossCurveAndTheImageGrid() throws Exception {
        Optional<Path> chromium = Chromium.find();
        Assumptions.assumeTrue(chromium.isPresent(), "no Chromium (/usr/bin/chromium): apt-get install chromium, or set PHALANX_CHROMIUM");
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "browser-test", ConfigFactory.parseString("pekko.loglevel = WARNING")
                .withFallback(ConfigFactory.load()));
        try (PhalanxServer server = PhalanxServer.start(system, new PhalanxServer.Settings("127.0.0.1", 0, tmp.resolve("runs"), 1, TOKEN, null, null),
                new PrintStream(new ByteArrayOutputStream(), true));
             Chromium browser = Chromium.start(chromium.get(), tmp.resolve("chromium"), 1280, 1400)) {
            browser.call("Page.enable", Map.of());
            browser.call("Page.navigate", Map.of("url", "http://127.0.0.1:" + server.port() + "/#token=" + TOKEN));
            await(browser, "document.readyState === 'complete' && document.getElementById('start') !== null", "the page loads");

            int steps = Integer.getInteger("phalanx.dashboard.max-steps", 120); // the README's screenshot: 376, two epochs of the sample
            browser.eval("document.getElementById('overrides').value = JSON.stringify({'train.max-steps': " + steps + "}); "
                    + "document.getElementById('start').click(); true");
            String progress = "JSON.stringify({"
                    + "points: (document.querySelector('#loss-curve path.line') || {getAttribute: () => ''}).getAttribute('d').split('L').length,"
                    + "samples: document.querySelectorAll('#samples .sample .img').length,"
                    + "loaded: [...document.querySelectorAll('#samples .sample .img')].filter(e => e.style.backgroundImage.includes('blob:')).length,"
                    + "perClass: document.querySelectorAll('#per-class tr').length,"
                    + "confusion: document.querySelectorAll('#confusion tr').length,"
                    + "title: document.getElementById('title').textContent})";
            JsonNode seen = await(browser, progress, "the loss curve and the image grid", p ->
                    p.get("points").asInt() >= 12 && p.get("loaded").asInt() == 32 && p.get("title").asText().contains("finished"));
            assertEquals(32, seen.get("samples").asInt(), seen.toString());
            assertEquals(10, seen.get("perClass").asInt(), seen.toString());
            assertEquals(11, seen.get("confusion").asInt(), "a header row and one per class: " + seen);
            assertTrue(seen.get("title").asText().startsWith("run-000001"), seen.toString());
            String captions = browser.eval("[...document.querySelectorAll('#samples .sample')].slice(0, 2).map(e => e.textContent).join('|')").asText();
            assertTrue(captions.startsWith("Ankle boot"), "true/predicted captions under each image: " + captions);

            browser.eval("window.scrollTo(0, 0); true");
            Path shot = Path.of("target", "dashboard.png");
            Files.createDirectories(shot.getParent());
            Files.write(shot, browser.screenshot());
        } finally {
            system.terminate();
            system.getWhenTerminated().toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
        }
    }

    private static JsonNode await(Chromium b, String condition, String what) throws Exception {
        return await(b, condition, what, v -> v.asBoolean());
    }

    private static JsonNode await(Chromium b, String expression, String what, java.util.function.Predicate<JsonNode> done) throws Exception {
        long end = System.nanoTime() + LIMIT.toNanos();
        JsonNode v = null;
        while (System.nanoTime() < end) {
            v = b.eval(expression);
            if (v.isTextual() && v.asText().startsWith("{")) v = ServiceClient.JSON.readTree(v.asText());
            if (done.test(v)) return v;
            Thread.sleep(100);
        }
        throw new AssertionError("the dashboard did not show " + what + " within " + LIMIT + ": " + v);
    }
}
