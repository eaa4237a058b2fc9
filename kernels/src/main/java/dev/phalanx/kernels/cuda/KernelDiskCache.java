package dev.phalanx.kernels.cuda;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Compiled kernels kept on disk between processes, as PyTorch and Triton keep theirs: NVRTC takes
 * a second or more per process, and every JVM of a run (each `phalanx` command, each test JVM of
 * {@code bench/gpu-check.sh}) would pay it again. A {@link KernelBinaryCache.Compiler} in front of
 * another: the file is named by the SHA-256 of everything the binary depends on (the assembled
 * source, the architecture, NVRTC's options and the identity of the NVRTC library that compiles
 * it), so a changed kernel, option or NVRTC is a new file, never a stale one. A file is written to
 * a temporary name and moved into place, so a crash or a second process writing at once never
 * leaves a torn binary under the final name. The cache is a convenience: a folder that cannot be
 * written, or a file that cannot be read, costs a compile, not the run.
 */
final class KernelDiskCache implements KernelBinaryCache.Compiler {

    /** The environment variable naming the folder; {@code off} (or empty) turns the cache off. */
    static final String ENV = "PHALANX_KERNEL_CACHE";

    private final Path dir;
    private final KernelBinaryCache.Compiler compiler;
    private final Supplier<String> compilerIdentity;

    /**
     * {@code compilerIdentity} names the compiler's inputs beyond the source and architecture (its
     * options, its library's path, size and modification time), asked once per compile.
     */
    KernelDiskCache(Path dir, KernelBinaryCache.Compiler compiler, Supplier<String> compilerIdentity) {
        this.dir = dir;
        this.compiler = compiler;
        this.compilerIdentity = compilerIdentity;
    }

    /** The folder from the environment: {@code $PHALANX_KERNEL_CACHE}, else {@code $XDG_CACHE_HOME/phalanx/kernels}, else {@code ~/.cache/phalanx/kernels}; null when off. */
    static Path folder(Map<String, String> env, String userHome) {
        String set = env.get(ENV);
        if (set != null) return set.isBlank() || set.equalsIgnoreCase("off") ? null : Path.of(set);
        String xdg = env.get("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(userHome, ".cache");
        return base.resolve("phalanx").resolve("kernels");
    }

    /** The compiler with the disk cache of the environment in front, or the compiler alone when the cache is off. */
    static KernelBinaryCache.Compiler fromEnvironment(KernelBinaryCache.Compiler compiler, Supplier<String> compilerIdentity) {
        Path dir = folder(System.getenv(), System.getProperty("user.home"));
        return dir == null ? compiler : new KernelDiskCache(dir, compiler, compilerIdentity);
    }

    @Override
    public byte[] compile(String arch, String source) {
        Path file = dir.resolve(key(arch, source, compilerIdentity.get()) + "." + arch + ".cubin");
        try {
            if (Files.isRegularFile(file)) {
                byte[] cached = Files.readAllBytes(file);
                if (isElf(cached)) return cached;
                // not a cubin (damaged outside this class: it only moves whole files into place): compiled again and replaced below
            }
        } catch (IOException e) {
            // unreadable: compile instead, and try to replace it below
        }
        byte[] image = compiler.compile(arch, source); // a compile error propagates: nothing is written for it
        try {
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, file.getFileName().toString(), ".tmp");
            try {
                Files.write(tmp, image);
                try {
                    Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException | UncheckedIOException e) {
            // a folder that cannot be written costs the next process a compile, nothing more
        }
        return image;
    }

    /** A cubin is an ELF image: anything else under a cache name was damaged, and is compiled again. */
    static boolean isElf(byte[] image) {
        return image.length > 4 && image[0] == 0x7f && image[1] == 'E' && image[2] == 'L' && image[3] == 'F';
    }

    /** The SHA-256, in hex, of the architecture, the compiler's identity and the source. */
    static String key(String arch, String source, String compilerIdentity) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (String part : new String[] {arch, compilerIdentity, source}) {
                byte[] b = part.getBytes(StandardCharsets.UTF_8);
                sha.update(ByteBuffer.allocate(Long.BYTES).putLong(b.length).array()); // each part's length first: no two splits hash alike
                sha.update(b);
            }
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is part of every Java runtime", e);
        }
    }
}
