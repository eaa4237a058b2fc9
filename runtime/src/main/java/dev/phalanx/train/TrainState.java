package dev.phalanx.train;

import java.util.LinkedHashMap;
import java.util.Map;

import dev.phalanx.io.Json;

/**
 * Where training stands, saved with every checkpoint: steps done, the epoch and the next batch
 * in it (the data loader's position; its order depends only on the seed and the epoch), the
 * running loss of the current logging interval, and images seen.
 */
public record TrainState(long step, int epoch, int batch, double runningLoss, int runningCount, long images, long seed) {

    public static TrainState start(long seed) {
        return new TrainState(0, 0, 0, 0, 0, 0, seed);
    }

    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("format", "phalanx-train-state-1");
        m.put("step", step);
        m.put("epoch", epoch);
        m.put("batch", batch);
        m.put("running_loss", runningLoss);
        m.put("running_count", runningCount);
        m.put("images", images);
        m.put("seed", seed);
        return Json.write(m);
    }

    public static TrainState fromJson(String json, String source) {
        try {
            @SuppressWarnings("unchecked")
            Map<String, Object> m = (Map<String, Object>) Json.parse(json);
            if (!"phalanx-train-state-1".equals(m.get("format"))) throw new IllegalArgumentException("unknown format " + m.get("format"));
            return new TrainState(num(m, "step").longValue(), num(m, "epoch").intValue(), num(m, "batch").intValue(),
                    num(m, "running_loss").doubleValue(), num(m, "running_count").intValue(), num(m, "images").longValue(),
                    num(m, "seed").longValue());
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(source + ": not a valid training state: " + e.getMessage(), e);
        }
    }

    private static Number num(Map<String, Object> m, String k) {
        Object v = m.get(k);
        if (!(v instanceof Number n)) throw new IllegalArgumentException("'" + k + "' is missing or not a number");
        return n;
    }
}
