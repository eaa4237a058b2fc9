package dev.phalanx.kernels.cuda;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import dev.phalanx.kernels.device.KernelCatalog;

/**
 * Phalanx's kernels compiled once per GPU architecture per process ({@code sm_90} for an H100 or
 * H200): every device and every replica of that architecture loads the same binary. Compiling
 * takes a second or two; a failed compilation is remembered too, so it fails fast and the same
 * way for every replica.
 */
public final class KernelBinaryCache {

    /** Compiles the assembled source for one architecture into a loadable image (a cubin). */
    @FunctionalInterface
    public interface Compiler {
        byte[] compile(String arch, String source);
    }

    private record Result(byte[] image, RuntimeException error) { }

    private final Compiler compiler;
    private final KernelCatalog catalog;
    private final Map<String, Result> byArch = new ConcurrentHashMap<>();
    private final AtomicInteger compilations = new AtomicInteger();

    public KernelBinaryCache(KernelCatalog catalog, Compiler compiler) {
        this.catalog = catalog;
        this.compiler = compiler;
    }

    /** The binary for {@code arch} ({@code sm_XY}), compiled on first use. */
    public byte[] binary(String arch) {
        if (!arch.matches("sm_\\d+[a-z]?")) throw new IllegalArgumentException("not a GPU architecture: '" + arch + "' (expected sm_XY)");
        Result r = byArch.computeIfAbsent(arch, a -> {
            compilations.incrementAndGet();
            try {
                return new Result(compiler.compile(a, catalog.assembledSource()), null);
            } catch (RuntimeException e) {
                return new Result(null, e);
            }
        });
        if (r.error() != null) throw r.error();
        return r.image();
    }

    public int compilations() {
        return compilations.get();
    }

    /** {@code sm_XY} of a compute capability. */
    public static String arch(int major, int minor) {
        return "sm_" + major + minor;
    }
}
