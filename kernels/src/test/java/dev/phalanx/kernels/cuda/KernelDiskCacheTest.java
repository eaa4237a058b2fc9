package dev.phalanx.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The compiled kernels' disk cache: host logic, no GPU (a stand-in compiler). */
class KernelDiskCacheTest {

    @TempDir
    Path dir;

    private final AtomicInteger compiles = new AtomicInteger();

    /** A stand-in cubin: an ELF magic, then the inputs. */
    private byte[] compile(String arch, String source) {
        compiles.incrementAndGet();
        return elf(arch + ":" + source);
    }

    private static byte[] elf(String body) {
        return ("\u007fELF" + body).getBytes(StandardCharsets.ISO_8859_1);
    }

    @Test
    void aDamagedFileIsCompiledAgainAndReplaced() throws IOException {
        new KernelDiskCache(dir, this::compile, () -> "nvrtc").compile("sm_90", "k");
        Path file;
        try (Stream<Path> files = Files.list(dir)) {
            file = files.findFirst().orElseThrow();
        }
        Files.write(file, new byte[] {0, 0, 0, 0, 0, 0}); // not a cubin
        assertArrayEquals(elf("sm_90:k"), new KernelDiskCache(dir, this::compile, () -> "nvrtc").compile("sm_90", "k"));
        assertEquals(2, compiles.get());
        assertArrayEquals(elf("sm_90:k"), Files.readAllBytes(file), "replaced by the new binary");
    }

    @Test
    void aSecondProcessLoadsTheBinaryInsteadOfCompiling() throws IOException {
        KernelDiskCache first = new KernelDiskCache(dir, this::compile, () -> "nvrtc 13.0");
        byte[] a = first.compile("sm_90", "kernel A");
        KernelDiskCache second = new KernelDiskCache(dir, this::compile, () -> "nvrtc 13.0"); // another process, the same folder
        assertArrayEquals(a, second.compile("sm_90", "kernel A"));
        assertEquals(1, compiles.get(), "compiled once; the second read the file");
        try (Stream<Path> files = Files.list(dir)) {
            List<String> names = files.map(p -> p.getFileName().toString()).toList();
            assertEquals(1, names.size(), "one file, no temporary left: " + names);
            assertTrue(names.get(0).endsWith(".sm_90.cubin"), names.get(0));
        }
    }

    @Test
    void anotherSourceArchitectureOrCompilerIsAnotherFile() {
        KernelDiskCache cache = new KernelDiskCache(dir, this::compile, () -> "nvrtc 13.0");
        cache.compile("sm_90", "kernel A");
        cache.compile("sm_90", "kernel B");
        cache.compile("sm_80", "kernel A");
        new KernelDiskCache(dir, this::compile, () -> "nvrtc 13.1").compile("sm_90", "kernel A");
        assertEquals(4, compiles.get(), "a changed kernel, architecture or NVRTC never reads a stale binary");
        assertNotEquals(KernelDiskCache.key("sm_90", "ab", "c"), KernelDiskCache.key("sm_90", "a", "bc"), "the parts' boundaries are hashed");
    }

    @Test
    void aCompileErrorWritesNothingAndAnUnwritableFolderCostsOnlyACompile() throws IOException {
        KernelDiskCache failing = new KernelDiskCache(dir, (arch, src) -> {
            throw new KernelCompileException(arch, List.of("relu_forward"), "elementwise.cu(31): error: oops");
        }, () -> "nvrtc");
        assertThrows(KernelCompileException.class, () -> failing.compile("sm_90", "bad"));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(0, files.count());
        }
        Path notAFolder = Files.writeString(dir.resolve("file"), "x");
        KernelDiskCache unwritable = new KernelDiskCache(notAFolder.resolve("kernels"), this::compile, () -> "nvrtc");
        assertArrayEquals(elf("sm_90:k"), unwritable.compile("sm_90", "k"));
        assertArrayEquals(elf("sm_90:k"), unwritable.compile("sm_90", "k"));
        assertEquals(2, compiles.get());
    }

    @Test
    void theFolderComesFromTheEnvironment() {
        assertEquals(Path.of("/x/k"), KernelDiskCache.folder(Map.of("PHALANX_KERNEL_CACHE", "/x/k"), "/home/u"));
        assertNull(KernelDiskCache.folder(Map.of("PHALANX_KERNEL_CACHE", "off"), "/home/u"));
        assertNull(KernelDiskCache.folder(Map.of("PHALANX_KERNEL_CACHE", ""), "/home/u"));
        assertEquals(Path.of("/c/phalanx/kernels"), KernelDiskCache.folder(Map.of("XDG_CACHE_HOME", "/c"), "/home/u"));
        assertEquals(Path.of("/home/u/.cache/phalanx/kernels"), KernelDiskCache.folder(Map.of(), "/home/u"));
    }
}
