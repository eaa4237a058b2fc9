package dev.phalanx.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

import dev.phalanx.nn.Linear;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** A program that embeds DataParallel and adds no logger sees no SLF4J lines on stderr. */
class NoLoggerEmbeddingTest {

    /** The embedding program: one step on two replicas. */
    public static void main(String[] args) {
        try (DataParallel dp = DataParallel.builder(() -> new Linear(3, 2, new Generator(0))).replicas(2)
                .loss((out, y) -> out.sub(y).pow(2f).mean()).optimizer(p -> new SGD(p, 0.1f)).build()) {
            float loss = dp.step(Tensor.ones(4, 3), Tensor.zeros(4, 2)).toCompletableFuture().join();
            System.out.println("loss finite: " + Float.isFinite(loss));
        }
    }

    @Test
    void noSlf4jWarningsWithoutABackend() throws Exception {
        List<String> cp = new ArrayList<>();
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) if (!e.contains("slf4j-simple")) cp.add(e);
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "-cp", String.join(File.pathSeparator, cp), NoLoggerEmbeddingTest.class.getName())
                .redirectErrorStream(false).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the embedding program did not finish within 60 s");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), err);
        assertEquals("loss finite: true", out.strip());
        assertFalse(err.contains("SLF4J"), err);
    }
}
