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
    private final Map<String, String> files;
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
        this.files = Map.copyOf(files);
        this.source = src.toString();
    }

    /** A catalog of other sources (file name to text, in order): for tests of compile errors. */
    public static KernelCatalog of(Map<String, String> files) {
        return new KernelCatalog(new LinkedHashMap<>(files));
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

    /**
     * The kernel whose definition holds line {@code line} (1-based) of {@code file}: the last one
     * declared at or before it, or null. Compile errors name a file and a line; this names the kernel.
     */
    public String kernelAt(String file, int line) {
        String src = files.get(file);
        if (src == null) return null;
        String[] lines = src.split("\n", -1);
        java.util.regex.Pattern decl = java.util.regex.Pattern.compile("extern\\s+\"C\"\\s+__global__\\s+void\\s+(\\w+)");
        for (int i = Math.min(line, lines.length) - 1; i >= 0; i--) {
            java.util.regex.Matcher m = decl.matcher(lines[i]);
            if (m.find()) return m.group(1);
        }
        return null;
    }

    /**
     * The kernels a compiler log's errors fall in, from its {@code file.cu(line): error} lines
     * (NVRTC's and nvcc's format), in order of appearance.
     */
    public java.util.List<String> kernelsInErrors(String log) {
        java.util.LinkedHashSet<String> out = new java.util.LinkedHashSet<>();
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(?m)^(\\S+\\.cu)\\((\\d+)\\): (?:catastrophic )?error").matcher(log);
        while (m.find()) {
            String k = kernelAt(m.group(1), Integer.parseInt(m.group(2)));
            if (k != null) out.add(k);
        }
        return java.util.List.copyOf(out);
    }

    /** The one translation unit NVRTC compiles. */
    public String assembledSource() {
        return source;
    }
}
