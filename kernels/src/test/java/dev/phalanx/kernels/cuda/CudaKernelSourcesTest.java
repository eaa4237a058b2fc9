package dev.phalanx.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every .cu kernel compiles with nvcc for the lowest target CUDA 13 supports (compute_75), so a
 * kernel that does not compile fails the build on a machine without a GPU. Skipped, with the
 * reason, where nvcc is not installed.
 */
class CudaKernelSourcesTest {

    @TempDir
    Path tmp;

    static java.util.List<String> files() {
        return CudaKernelSources.FILES;
    }

    private static String nvcc() {
        String cudaHome = System.getenv("CUDA_HOME");
        for (String p : new String[] {cudaHome == null ? null : cudaHome + "/bin/nvcc", "/usr/local/cuda/bin/nvcc", "/usr/local/bin/nvcc", "/usr/bin/nvcc"}) {
            if (p != null && Files.isExecutable(Path.of(p))) return p;
        }
        return null;
    }

    /** The unit NVRTC compiles: every file after the prelude, in one translation unit (no clashing names or macros). */
    @org.junit.jupiter.api.Test
    void theAssembledUnitCompilesWithEveryKernel() throws IOException, InterruptedException {
        String nvcc = nvcc();
        assumeTrue(nvcc != null, "nvcc is not installed here: the CUDA kernels could not be compile-checked");
        Path src = tmp.resolve("phalanx_kernels.cu");
        // nvcc includes the CUDA headers NVRTC lacks: take their INFINITY and NAN away, so the prelude's own are compiled
        Files.writeString(src, "#undef INFINITY\n#undef NAN\n" + dev.phalanx.kernels.device.KernelCatalog.standard().assembledSource());
        Path ptx = tmp.resolve("phalanx_kernels.ptx");
        Process p = new ProcessBuilder(nvcc, "-arch=compute_75", "-ptx", "-Werror", "all-warnings", src.toString(), "-o", ptx.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "nvcc did not finish");
        assertEquals(0, p.exitValue(), "the assembled kernels do not compile:\n" + out);
        String text = Files.readString(ptx);
        for (var k : dev.phalanx.kernels.device.KernelCatalog.standard().all()) {
            assertTrue(text.contains(".entry " + k.name() + "("), "kernel " + k.name() + " is missing from the PTX");
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("files")
    void compilesWithNvcc(String file) throws IOException, InterruptedException {
        String nvcc = nvcc();
        assumeTrue(nvcc != null, "nvcc is not installed here: the CUDA kernels could not be compile-checked");
        Path src = tmp.resolve(file);
        Files.writeString(src, CudaKernelSources.read(file));
        Path ptx = tmp.resolve(file.replace(".cu", ".ptx"));
        Process p = new ProcessBuilder(nvcc, "-arch=compute_75", "-ptx", "-Werror", "all-warnings", src.toString(), "-o", ptx.toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS), "nvcc did not finish");
        assertEquals(0, p.exitValue(), file + " does not compile:\n" + out);
        String text = Files.readString(ptx);
        for (String line : CudaKernelSources.read(file).split("\n")) {
            if (line.startsWith("extern \"C\" __global__ void ")) {
                String name = line.substring("extern \"C\" __global__ void ".length(), line.indexOf('('));
                assertTrue(text.contains(".entry " + name), file + ": kernel " + name + " is missing from the PTX");
            }
        }
    }
}
