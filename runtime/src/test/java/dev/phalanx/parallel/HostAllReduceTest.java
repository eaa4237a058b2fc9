package dev.phalanx.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.TimeoutException;

import org.junit.jupiter.api.Test;

class HostAllReduceTest {

    @Test
    void sumsInReplicaOrderWhateverTheArrivalOrder() throws Exception {
        HostAllReduce r = new HostAllReduce(3);
        r.contribute(1, 2, 0, new float[] {1e8f, 1f});
        r.contribute(1, 0, 0, new float[] {1f, 2f});
        r.contribute(1, 1, 0, new float[] {-1e8f, 3f});
        // (1 + -1e8) + 1e8 = 0 in float32, taken in replica order 0, 1, 2
        assertArrayEquals(new float[] {(1f + -1e8f) + 1e8f, 6f}, r.result(1, 0, Duration.ofSeconds(1)));
    }

    @Test
    void aMissingReplicaIsNamedInTheTimeout() {
        HostAllReduce r = new HostAllReduce(3);
        r.contribute(5, 0, 0, new float[] {1f});
        r.contribute(5, 2, 0, new float[] {1f});
        TimeoutException e = assertThrows(TimeoutException.class, () -> r.result(5, 0, Duration.ofMillis(50)));
        assertTrue(e.getMessage().contains("replica(s) 1") && e.getMessage().contains("step 5"), e.getMessage());
    }

    @Test
    void aWithdrawnContributionIsReplaced() throws Exception {
        HostAllReduce r = new HostAllReduce(2);
        r.contribute(1, 0, 0, new float[] {1f});
        r.contribute(1, 1, 0, new float[] {100f});
        r.withdraw(1, 1);
        r.contribute(1, 1, 0, new float[] {2f});
        assertArrayEquals(new float[] {3f}, r.result(1, 0, Duration.ofSeconds(1)));
    }
}
