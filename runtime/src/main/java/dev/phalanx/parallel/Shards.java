package dev.phalanx.parallel;

import java.util.ArrayList;
import java.util.List;

/**
 * How a batch is split across replicas: {@code torch.chunk} along dimension 0. Shard size is
 * ceil(B / N), the last shard smaller, and fewer shards than replicas when the batch is small
 * (30 rows on 8 replicas: 4,4,4,4,4,4,4,2; 10 rows on 8: 2,2,2,2,2).
 */
public final class Shards {

    private Shards() { }

    /** Rows [begin, end) of one shard. */
    public record Range(int begin, int end) {
        public int rows() {
            return end - begin;
        }
    }

    public static List<Range> split(int batch, int replicas) {
        if (batch < 1) throw new IllegalArgumentException("cannot split an empty batch (0 rows)");
        if (replicas < 1) throw new IllegalArgumentException("need at least one replica, got " + replicas);
        int per = (batch + replicas - 1) / replicas;
        List<Range> out = new ArrayList<>();
        for (int b = 0; b < batch; b += per) out.add(new Range(b, Math.min(batch, b + per)));
        return out;
    }
}
