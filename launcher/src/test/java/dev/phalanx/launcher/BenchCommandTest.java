package dev.phalanx.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code phalanx bench}: threads default to the machine's cores, as PyTorch's do; the backend line comes first. */
class BenchCommandTest {

    @Test
    void threadsDefaultToTheMachinesCores() {
        int cores = Runtime.getRuntime().availableProcessors();
        Cli.Result r = Cli.run("bench", "--batch-size", "2", "--seconds", "0.05", "--mode", "infer");
        assertEquals(0, r.code(), r.err());
        String first = r.out().lines().findFirst().orElse("");
        assertTrue(first.startsWith("cpu backend: ") && first.contains(", " + cores + (cores == 1 ? " thread" : " threads")), r.out());
        assertTrue(r.out().lines().reduce((a, b) -> b).orElse("").matches("throughput: \\d+ images/s"), r.out());
    }

    @Test
    void anExplicitThreadCountWins() {
        Cli.Result r = Cli.run("bench", "--batch-size", "2", "--seconds", "0.05", "--mode", "infer", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().lines().findFirst().orElse("").endsWith(", 1 thread"), r.out());
    }
}
