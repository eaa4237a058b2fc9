package dev.phalanx.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** bench/gpu-check.sh runs on a GPU machine only; here it must at least parse, explain itself, and refuse bad use. */
class GpuCheckScriptTest {

    private static final Path SCRIPT = Path.of("../bench/gpu-check.sh");

    private record Run(int exit, String output) { }

    private static Run run(String... args) throws IOException, InterruptedException {
        return run(Map.of(), args);
    }

    private static Run run(Map<String, String> env, String... args) throws IOException, InterruptedException {
        assumeTrue(Files.exists(SCRIPT), "run from the kernels module: " + SCRIPT.toAbsolutePath() + " is not here");
        List<String> cmd = new java.util.ArrayList<>(List.of("bash"));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        // read on the side: the script's output must not fill the pipe while we wait with a limit
        java.util.concurrent.CompletableFuture<String> out = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getInputStream().readAllBytes());
            } catch (IOException e) {
                return "(output unreadable: " + e + ")";
            }
        });
        if (!p.waitFor(SCRIPT_LIMIT_SECONDS, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the script did not finish within " + SCRIPT_LIMIT_SECONDS + " s");
        }
        return new Run(p.exitValue(), out.join());
    }

    /** The script's own limit is 290 s on a GPU; a dry run here takes about a minute. */
    private static final long SCRIPT_LIMIT_SECONDS = 400;

    /**
     * The gpu-tagged test classes of the sources, as "module class", found here by Java (the script
     * finds them with grep); those also tagged gpu-cluster stay out of the pack and the list.
     */
    private static java.util.SortedSet<String> gpuTaggedClasses() throws IOException {
        java.util.SortedSet<String> found = new java.util.TreeSet<>();
        try (var modules = Files.list(Path.of(".."))) {
            for (Path m : modules.filter(d -> Files.isDirectory(d.resolve("src/test/java"))).toList()) {
                Path root = m.resolve("src/test/java");
                try (var files = Files.walk(root)) {
                    for (Path f : files.filter(x -> x.toString().endsWith(".java")).toList()) {
                        if (Files.readAllLines(f).stream().anyMatch(l -> l.startsWith("@Tag(\"gpu\")"))
                                && Files.readAllLines(f).stream().noneMatch(l -> l.startsWith("@Tag(\"gpu-cluster\")"))) {
                            String c = root.relativize(f).toString().replace('/', '.');
                            found.add(m.getFileName() + " " + c.substring(0, c.length() - ".java".length()));
                        }
                    }
                }
            }
        }
        return found;
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

    /** A copy of the script in a project root without a pack (the script works from the folder above its own). */
    @Test
    void anUnknownOptionOrAMissingPackIsRefused(@org.junit.jupiter.api.io.TempDir Path root) throws Exception {
        Run bad = run(SCRIPT.toString(), "--fast");
        assertEquals(2, bad.exit(), bad.output());
        assertTrue(bad.output().startsWith("gpu-check: unknown option '--fast'"), bad.output());
        Path copy = Files.createDirectories(root.resolve("bench")).resolve("gpu-check.sh");
        Files.copy(SCRIPT, copy);
        for (String option : new String[] {"--smoke", "--dry-run"}) {
            Run noPack = run(Map.of("OUT", root.resolve("out").toString()), copy.toString(), option);
            assertEquals(2, noPack.exit(), noPack.output());
            assertTrue(noPack.output().startsWith("gpu-check: .device/travel.tar.xz is missing: run bench/gpu-check.sh --pack"), noPack.output());
        }
    }

    /**
     * --list names every gpu-tagged class of every module (what a GPU run must discover) and, for
     * those outside the kernels module, the simulated test each repeats on cuda:0 (what --pack runs
     * on the CPU to learn which jars the GPU run loads).
     */
    @Test
    void listNamesEveryGpuTestAndTheTwinsThePackTraces() throws Exception {
        Run r = run(SCRIPT.toString(), "--list");
        assertEquals(0, r.exit(), r.output());
        java.util.SortedSet<String> listed = new java.util.TreeSet<>();
        for (String line : r.output().split("\n")) if (line.startsWith("gpu test: ")) listed.add(line.substring("gpu test: ".length()));
        assertEquals(gpuTaggedClasses(), listed, r.output());
        assertTrue(listed.contains("runtime dev.phalanx.GoldenCudaGpuTest") && listed.contains("kernels dev.phalanx.kernels.cuda.CudaSmokeGpuTest"), r.output());
        assertTrue(r.output().contains("left out of the pack (gpu-cluster: needs the cluster jars): runtime dev.phalanx.parallel.cluster.NcclClusterGpuTest"), r.output());
        assertTrue(r.output().contains("\ntwin: dev.phalanx.GoldenDeviceTest\n") && r.output().contains("\ntwin: dev.phalanx.parallel.DeviceDataParallelTest\n"),
                r.output());
        assertTrue(!r.output().contains("twin: dev.phalanx.kernels."), "the kernels module's class path travels whole: no twins traced there\n" + r.output());
    }

    /**
     * With a pack made by --pack (only then: it takes minutes), every step of the GPU run from it,
     * here without a GPU: the pack (its archive, with Fashion-MNIST and the CPU's accuracy) fits in
     * what travels, it unpacks, the smoke test and every gpu-tagged class are discovered and skip with
     * the reason, the accuracy step trains 20 steps on sim:0 from the packed data, the benchmark's rows
     * (one with its CUDA graph) run on sim:0 with the device's split of a step, the summary says so,
     * and at most 8 files come back. A pack older than the sources can fail here: pack again.
     */
    @Test
    void aDryRunFromThePackDiscoversEveryGpuTestAndBenchmarksOnSim(@org.junit.jupiter.api.io.TempDir Path out) throws Exception {
        assumeTrue(Files.exists(Path.of("../.device/travel.tar.xz")) && Files.exists(Path.of("../.device/fashion-reference.txt")),
                "no pack from bench/gpu-check.sh --pack here (it runs Maven itself, so mvn test does not make one)");
        long pack;
        try (var files = Files.walk(Path.of("../.device"))) {
            pack = files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
        }
        assertTrue(pack < 58L << 20, "the pack leaves room for the working tree in the 64 MiB that travel: " + (pack >> 20) + " MiB");
        Run r = run(Map.of("OUT", out.toString()), SCRIPT.toString(), "--dry-run");
        String summary = Files.readString(out.resolve("summary.txt"));
        assertEquals(0, r.exit(), r.output());
        int classes = gpuTaggedClasses().size();
        assertTrue(summary.contains("\nsmoke: SKIP, as expected without a GPU (") && summary.contains("no CUDA device: "), summary);
        assertTrue(summary.contains("\ngpu tests: SKIP, as expected without a GPU: all " + classes + " tagged classes discovered ("), summary);
        // the simulated device is slow: the dry run's rows are small batches
        String split = "device per step: copy up [0-9.]+ ms, compute [0-9.]+ ms";
        assertTrue(summary.matches("(?s).*\nbench cifar-lenet batch 4: phalanx \\d+ images/s on sim:0 \\(host enqueue [0-9.]+ of [0-9.]+ ms per step "
                + "\\(\\d+ %\\); " + split + "\\)[^\n]*; CUDA graph: \\d+ images/s, [0-9.]+x the eager steps, host enqueue [0-9.]+ ms per step; "
                + "device per replay: copy up [0-9.]+ ms, compute [0-9.]+ ms.*"), summary);
        assertTrue(summary.matches("(?s).*\nbench cifar-lenet batch 8: phalanx \\d+ images/s on sim:0 \\(host enqueue [^;]*; " + split + "\\).*"), summary);
        assertTrue(summary.contains("\nbench cifar-wide batch 2: phalanx "), summary);
        assertTrue(summary.contains("\npack: unpacked from .device/travel.tar.xz in "), summary);
        // the accuracy step: the packed data, 20 steps on sim:0, eval's confusion matrix counted; the CPU's figure from the pack
        assertTrue(summary.matches("(?s).*\naccuracy: DRY \\([0-9.]+ % \\(\\d+/10000\\) after 20 steps on sim:0: 20 steps, not compared; the GPU run "
                + "compares --epochs 2 --batch-size 64 --lr 0.01 on cuda with the CPU's [0-9]+\\.[0-9]{2} %, within 0.5 points; \\d+ s\\)\n.*"), summary);
        assertTrue(summary.contains("\nbench phalanx's device: sim:0 (the simulated device"), summary);
        try (var files = Files.walk(out)) {
            long n = files.filter(Files::isRegularFile).count();
            assertTrue(n <= 8, "at most 8 files come back from the device machine: " + n);
        }
    }
}
