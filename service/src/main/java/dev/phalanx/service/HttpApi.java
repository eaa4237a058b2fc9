package dev.phalanx.service;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

import org.apache.pekko.NotUsed;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.marshalling.sse.EventStreamMarshalling;
import org.apache.pekko.http.javadsl.model.ContentType;
import org.apache.pekko.http.javadsl.model.ContentTypes;
import org.apache.pekko.http.javadsl.model.HttpEntities;
import org.apache.pekko.http.javadsl.model.HttpResponse;
import org.apache.pekko.http.javadsl.model.MediaTypes;
import org.apache.pekko.http.javadsl.model.StatusCodes;
import org.apache.pekko.http.javadsl.model.headers.RawHeader;
import org.apache.pekko.http.javadsl.model.sse.ServerSentEvent;
import org.apache.pekko.http.javadsl.server.AllDirectives;
import org.apache.pekko.http.javadsl.server.PathMatchers;
import org.apache.pekko.http.javadsl.server.Route;
import org.apache.pekko.http.javadsl.unmarshalling.Unmarshaller;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.BoundedSourceQueue;
import org.apache.pekko.stream.QueueOfferResult;
import org.apache.pekko.stream.javadsl.Source;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;

import dev.phalanx.train.Recipe;

/**
 * The HTTP API and the dashboard over {@link Training}. Every {@code /api} call and
 * {@code /metrics} needs {@code Authorization: Bearer <token>}; without it the answer is 401
 * and nothing happens. The dashboard page itself holds no data and asks for the token.
 */
public final class HttpApi extends AllDirectives {

    /** Events a slow client may fall behind by before its stream is ended (it reconnects and replays). */
    static final int EVENT_BUFFER = 1024;
    static final Duration HEARTBEAT = Duration.ofSeconds(10);
    private static final ContentType OCTETS = ContentTypes.APPLICATION_OCTET_STREAM;
    private static final ContentType CSV = MediaTypes.TEXT_CSV.toContentType(org.apache.pekko.http.javadsl.model.HttpCharsets.UTF_8);
    private static final ContentType PNG = MediaTypes.IMAGE_PNG.toContentType();
    private static final String DASHBOARD = "dev/phalanx/service/dashboard/";

    private final Training training;
    private final ActorSystem<?> system;
    private final byte[] token;

    public HttpApi(Training training, ActorSystem<?> system, String token) {
        this.training = training;
        this.system = system;
        this.token = ("Bearer " + token).getBytes(StandardCharsets.UTF_8);
    }

    public Route routes() {
        return concat(
                pathSingleSlash(() -> get(() -> getFromResource(DASHBOARD + "index.html", ContentTypes.TEXT_HTML_UTF8))),
                path("dashboard.js", () -> get(() -> getFromResource(DASHBOARD + "dashboard.js",
                        MediaTypes.APPLICATION_JAVASCRIPT.toContentType(org.apache.pekko.http.javadsl.model.HttpCharsets.UTF_8)))),
                path("metrics", () -> authorized(() -> get(() -> complete(HttpResponse.create().withEntity(
                        HttpEntities.create(ContentTypes.TEXT_PLAIN_UTF8, PrometheusText.render(training.runs()))))))),
                pathPrefix("api", () -> authorized(() -> pathPrefix("runs", () -> concat(
                        pathEnd(() -> concat(
                                get(() -> json(200, training.runs())),
                                post(() -> entity(Unmarshaller.entityToString(), this::create)))),
                        pathPrefix(PathMatchers.segment(), id -> run(id)))))));
    }

    private Route run(String id) {
        return concat(
                pathEnd(() -> get(() -> training.run(id).map(r -> json(200, r)).orElseGet(() -> noRun(id)))),
                path("events", () -> get(() -> optionalHeaderValueByName("Last-Event-ID", last -> events(id, lastEventId(last))))),
                path("stop", () -> post(() -> act(() -> training.stop(id)))),
                path("resume", () -> post(() -> act(() -> training.resume(id)))),
                path("model.safetensors", () -> get(() -> file(id, "model.safetensors", OCTETS))),
                path("metrics.csv", () -> get(() -> file(id, "metrics.csv", CSV))),
                path("samples.png", () -> get(() -> file(id, RunProgress.SAMPLES, PNG))),
                path("evaluation.json", () -> get(() -> file(id, RunProgress.EVALUATION, ContentTypes.APPLICATION_JSON))));
    }

    /** The bearer token, compared in constant time; 401 and nothing else without it. */
    private Route authorized(Supplier<Route> inner) {
        return optionalHeaderValueByName("Authorization", h -> {
            if (h.isPresent() && MessageDigest.isEqual(h.get().trim().getBytes(StandardCharsets.UTF_8), token)) return inner.get();
            return complete(HttpResponse.create().withStatus(StatusCodes.UNAUTHORIZED)
                    .addHeader(RawHeader.create("WWW-Authenticate", "Bearer realm=\"phalanx\""))
                    .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, error("missing or wrong bearer token: send "
                            + "'Authorization: Bearer <token>' (PHALANX_TOKEN, or the token file that phalanx serve printed at start)"))));
        });
    }

    private Route create(String body) {
        JsonNode req;
        try {
            req = RunStore.JSON.readTree(body);
        } catch (JsonProcessingException e) {
            return problem(400, "the body is not JSON: " + e.getOriginalMessage());
        }
        if (req == null || !req.isObject()) return problem(400, "the body must be a JSON object {\"recipe\": \"<HOCON>\", \"overrides\": {...}}");
        JsonNode recipe = req.path("recipe"), overrides = req.path("overrides");
        if (!recipe.isMissingNode() && !recipe.isTextual()) return problem(400, "'recipe' must be a string of HOCON text");
        if (!overrides.isMissingNode() && !overrides.isNull() && !overrides.isObject()) {
            return problem(400, "'overrides' must be an object such as {\"train.max-steps\": 200}");
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> over = overrides.isObject() ? RunStore.JSON.convertValue(overrides, LinkedHashMap.class) : Map.of();
        try {
            RunRecord r = training.submit(recipe.isTextual() ? recipe.asText() : "", over);
            Map<String, Object> created = new LinkedHashMap<>();
            created.put("id", r.id());
            created.put("state", r.state());
            return json(201, created);
        } catch (Recipe.RecipeException e) {
            return problem(400, e.getMessage());
        } catch (Training.RunRequestException e) {
            return problem(e.status(), e.getMessage());
        }
    }

    private Route act(Supplier<RunRecord> action) {
        try {
            return json(202, action.get());
        } catch (Training.RunRequestException e) {
            return problem(e.status(), e.getMessage());
        }
    }

    /** The event a reconnecting client saw last (SSE's Last-Event-ID); 0, from the start, when absent or not a number. */
    private static long lastEventId(Optional<String> header) {
        try {
            return header.map(h -> Long.parseLong(h.trim())).orElse(0L);
        } catch (NumberFormatException e) {
            return 0;
        }
    }

    private Route events(String id, long afterSeq) {
        Optional<EventLog> log = training.events(id);
        if (log.isEmpty()) return noRun(id);
        int buffer = log.get().events().size() + EVENT_BUFFER;
        Pair<BoundedSourceQueue<ServerSentEvent>, Source<ServerSentEvent, NotUsed>> p = Source.<ServerSentEvent>queue(buffer).preMaterialize(system);
        BoundedSourceQueue<ServerSentEvent> queue = p.first();
        EventLog.Subscriber sub = new EventLog.Subscriber() {
            @Override
            public boolean offer(RunEvent e) {
                QueueOfferResult r = queue.offer(ServerSentEvent.create(e.json(), e.type(), Long.toString(e.seq())));
                if (r == QueueOfferResult.dropped()) queue.fail(new IllegalStateException("the client fell " + EVENT_BUFFER + " events behind"));
                return r == QueueOfferResult.enqueued();
            }

            @Override
            public void complete() {
                queue.complete();
            }
        };
        Source<ServerSentEvent, NotUsed> source = p.second()
                .keepAlive(HEARTBEAT, ServerSentEvent::heartbeat)
                .watchTermination((mat, done) -> {
                    done.whenComplete((d, err) -> log.get().unsubscribe(sub));
                    return mat;
                });
        log.get().subscribe(sub, afterSeq);
        return completeOK(source, EventStreamMarshalling.toEventStream());
    }

    private Route file(String id, String name, ContentType type) {
        if (training.run(id).isEmpty()) return noRun(id);
        Path f = training.dir(id).resolve(name);
        if (!Files.isRegularFile(f)) {
            return problem(404, "run " + id + " has no " + name + " yet (state " + training.run(id).get().state().json() + ")");
        }
        return complete(HttpResponse.create().withEntity(HttpEntities.create(type, f))
                .addHeader(RawHeader.create("Content-Disposition", "attachment; filename=\"" + id + "-" + name + "\"")));
    }

    private Route noRun(String id) {
        return problem(404, "no run " + id);
    }

    private Route problem(int status, String message) {
        return complete(HttpResponse.create().withStatus(status).withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, error(message))));
    }

    private static String error(String message) {
        try {
            return RunStore.JSON.writeValueAsString(Map.of("error", message));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private Route json(int status, Object value) {
        try {
            return complete(HttpResponse.create().withStatus(status)
                    .withEntity(HttpEntities.create(ContentTypes.APPLICATION_JSON, RunStore.JSON.writeValueAsBytes(value))));
        } catch (JsonProcessingException e) {
            return problem(500, "could not write the answer: " + e.getOriginalMessage());
        }
    }

}
