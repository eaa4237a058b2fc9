package dev.phalanx.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import org.junit.jupiter.api.Test;

/** The blitz's shard sizes for DataParallel on 2, 3 and 8 GPUs. */
class ShardsTest {

    private static List<Integer> rows(int batch, int replicas) {
        return Shards.split(batch, replicas).stream().map(Shards.Range::rows).toList();
    }

    @Test
    void thirtyRows() {
        assertEquals(List.of(15, 15), rows(30, 2));
        assertEquals(List.of(10, 10, 10), rows(30, 3));
        assertEquals(List.of(4, 4, 4, 4, 4, 4, 4, 2), rows(30, 8));
    }

    @Test
    void theLastBatchOfTenRows() {
        assertEquals(List.of(5, 5), rows(10, 2));
        assertEquals(List.of(4, 4, 2), rows(10, 3));
        assertEquals(List.of(2, 2, 2, 2, 2), rows(10, 8));
    }

    @Test
    void rangesAreContiguous() {
        assertEquals(List.of(new Shards.Range(0, 3), new Shards.Range(3, 6), new Shards.Range(6, 7)), Shards.split(7, 3));
        assertEquals(List.of(new Shards.Range(0, 1)), Shards.split(1, 8));
        assertThrows(IllegalArgumentException.class, () -> Shards.split(0, 2));
    }
}
