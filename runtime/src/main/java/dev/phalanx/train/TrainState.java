package dev.phalanx.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.phalanx.io.Json;

/**
 * Where training stands, saved with every checkpoint: steps done, the epoch and the next batch
 * in it (the data loader's position; its order depends only on the seed and the epoch), the
 * running loss of the current logging interval, and images seen.
 */
public record TrainState(long step, int epoch, int batch, double runningLoss, int runningCount, long images, long seed) {

    static final String FORMAT = "phalanx-train-state-1";

    public static TrainState start(long seed) {
        return new TrainState(0, 0, 0, 0, 0, 0, seed);
    }

    /** The fields as a JSON object (a checkpoint's {@code state.json} adds the files' checksums). */
    public ObjectNode toJsonNode() {
        ObjectNode m = Json.object();
        m.put("format", FORMAT);
        m.put("step", step);
        m.put("epoch", epoch);
        m.put("batch", batch);
        m.put("running_loss", runningLoss);
        m.put("running_count", runningCount);
        m.put("images", images);
        m.put("seed", seed);
        return m;
    }

    public String toJson() {
        return Json.write(toJsonNode());
    }

    public static TrainState fromJson(String json, String source) {
        JsonNode node;
        try {
            node = Json.parse(json);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(source + ": not a valid training state: " + e.getMessage(), e);
        }
        return fromJson(node, source);
    }

    public static TrainState fromJson(JsonNode m, String source) {
        try {
            if (!m.isObject()) throw new IllegalArgumentException("not a JSON object");
            if (!FORMAT.equals(m.path("format").asText(null))) throw new IllegalArgumentException("unknown format " + m.get("format"));
            return new TrainState(num(m, "step").longValue(), num(m, "epoch").intValue(), num(m, "batch").intValue(),
                    num(m, "running_loss").doubleValue(), num(m, "running_count").intValue(), num(m, "images").longValue(),
                    num(m, "seed").longValue());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(source + ": not a valid training state: " + e.getMessage(), e);
        }
    }

    private static Number num(JsonNode m, String k) {
        JsonNode v = m.get(k);
        if (v == null || !v.isNumber()) throw new IllegalArgumentException("'" + k + "' is missing or not a number");
        return v.numberValue();
    }
}
