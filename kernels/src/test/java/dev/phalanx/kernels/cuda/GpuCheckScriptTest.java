package dev.phalanx.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** bench/gpu-check.sh runs on a GPU machine only; here it must at least parse, explain itself, and refuse bad use. */
class GpuCheckScriptTest {

    private static final Path SCRIPT = Path.of("../bench/gpu-check.sh");

    private record Run(int exit, String output) { }

    private static Run run(String... args) throws IOException, InterruptedException {
        assumeTrue(Files.exists(SCRIPT), "run from the kernels module: " + SCRIPT.toAbsolutePath() + " is not here");
        List<String> cmd = new java.util.ArrayList<>(List.of("bash"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the script did not finish");
        return new Run(p.exitValue(), out);
    }

    @Test
    void itParses() throws Exception {
        Run r = run("-n", SCRIPT.toString());
        assertEquals(0, r.exit(), r.output());
    }

    @Test
    void helpSaysHowToRunIt() throws Exception {
        Run r = run(SCRIPT.toString(), "--help");
        assertEquals(0, r.exit(), r.output());
        assertTrue(r.output().contains("bench/gpu-check.sh --smoke") && r.output().contains("device-pack --tests") && r.output().contains("$OUT"),
                r.output());
        assertTrue(r.output().contains("bench/gpu-check.sh --pack") && r.output().contains("64 MiB"), "how to pack under the carry limit: " + r.output());
        assertTrue(!r.output().contains("set -uo"), "only the comment block is printed");
    }

    @Test
    void anUnknownOptionOrAMissingPackIsRefused() throws Exception {
        Run bad = run(SCRIPT.toString(), "--fast");
        assertEquals(2, bad.exit(), bad.output());
        assertTrue(bad.output().startsWith("gpu-check: unknown option '--fast'"), bad.output());
        assumeTrue(!Files.exists(Path.of("../.device/env.sh")), "a .device pack is present here");
        Run noPack = run(SCRIPT.toString(), "--smoke");
        assertEquals(2, noPack.exit(), noPack.output());
        assertTrue(noPack.output().contains(".device/env.sh is missing"), noPack.output());
    }
}
