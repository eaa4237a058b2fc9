package dev.phalanx.kernels.device;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeSet;

import dev.phalanx.kernels.cuda.CudaKernelSources;

/**
 * Phalanx's own kernels: their signatures, parsed from the {@code .cu} sources, and those sources
 * assembled into the one translation unit NVRTC compiles. The unit starts with a small prelude
 * (NVRTC has no {@code <math.h>}, so {@code INFINITY} and {@code NAN} are defined here) and marks
 * each file with {@code #line}, so a compile error names the {@code .cu} file and line.
 * Immutable; one per process.
 */
public final class KernelCatalog {

    /** What NVRTC lacks that the sources use. */
    static final String PRELUDE = """
            // Phalanx kernels, assembled for NVRTC
            #ifndef INFINITY
            #define INFINITY __int_as_float(0x7f800000)
            #endif
            #ifndef NAN
            #define NAN __int_as_float(0x7fffffff)
            #endif
            """;

    private static final class Holder {
        static final KernelCatalog STANDARD = load();
    }

    private final Map<String, KernelSignature> kernels;
    private final String source;

    KernelCatalog(Map<String, String> files) {
        Map<String, KernelSignature> k = new LinkedHashMap<>();
        StringBuilder src = new StringBuilder(PRELUDE);
        for (Map.Entry<String, String> f : files.entrySet()) {
            for (KernelSignature s : KernelSignature.parse(f.getKey(), f.getValue())) {
                KernelSignature old = k.put(s.name(), s);
                if (old != null) throw new IllegalStateException("kernel " + s.name() + " is defined in both " + old.file() + " and " + f.getKey());
            }
            src.append("#line 1 \"").append(f.getKey()).append("\"\n").append(f.getValue());
            if (!f.getValue().endsWith("\n")) src.append('\n');
        }
        this.kernels = Map.copyOf(k);
        this.source = src.toString();
    }

    /** The kernels of {@link CudaKernelSources#FILES}. */
    public static KernelCatalog standard() {
        return Holder.STANDARD;
    }

    private static KernelCatalog load() {
        Map<String, String> files = new LinkedHashMap<>();
        try {
            for (String f : CudaKernelSources.FILES) files.put(f, CudaKernelSources.read(f));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new KernelCatalog(files);
    }

    /** The declared signature of {@code name}, or an error listing the kernels there are. */
    public KernelSignature signature(String name) {
        KernelSignature s = kernels.get(name);
        if (s == null) throw new IllegalArgumentException("no kernel named '" + name + "'; the kernels are " + new TreeSet<>(kernels.keySet()));
        return s;
    }

    public Collection<KernelSignature> all() {
        return kernels.values();
    }

    /** The one translation unit NVRTC compiles. */
    public String assembledSource() {
        return source;
    }
}
