package dev.phalanx.kernels.cuda;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import org.bytedeco.javacpp.Loader;

/**
 * What CUDA this machine has: GPUs (name, memory, compute capability) and the versions of the
 * driver, runtime, cuBLAS, cuDNN and NCCL, or the one reason there is no usable GPU. Loading
 * the presets on a machine without the driver throws {@code UnsatisfiedLinkError} about
 * {@code libcuda.so.1}; that is caught here and nowhere else.
 */
public final class CudaProbe {

    /** One GPU. */
    public record Gpu(int index, String name, long memoryBytes, int major, int minor, int multiprocessors) {
        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "cuda:%d: %s, %.1f GiB, compute capability %d.%d, %d SMs", index, name,
                    memoryBytes / (1024.0 * 1024 * 1024), major, minor, multiprocessors);
        }
    }

    /** The result: GPUs and versions, or why there are none. */
    public record Report(List<Gpu> gpus, Map<String, String> versions, String reason, Map<String, Path> libraries) {
        public boolean available() {
            return !gpus.isEmpty();
        }
    }

    private static final class Holder { // probed once per JVM: loading native libraries cannot be undone anyway
        static final Report REPORT = run();
    }

    private CudaProbe() { }

    public static Report probe() {
        return Holder.REPORT;
    }

    private static Report run() {
        List<Path> dirs = CudaLibraries.searchPath();
        Map<String, Path> libs = CudaLibraries.locate(dirs);
        // JavaCPP loads by soname: tell it the folders before the first load
        List<String> paths = new ArrayList<>();
        for (Path p : libs.values()) if (p != null && !paths.contains(p.toString())) paths.add(p.toString());
        String previous = System.getProperty("org.bytedeco.javacpp.platform.preloadpath", "");
        System.setProperty("org.bytedeco.javacpp.platform.preloadpath",
                String.join(java.io.File.pathSeparator, paths) + (previous.isEmpty() ? "" : java.io.File.pathSeparator + previous));
        try {
            Loader.load(org.bytedeco.cuda.global.cudart.class);
        } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
            String why = libs.get("driver") == null ? "the NVIDIA driver (libcuda.so.1) is not installed"
                    : libs.get("runtime") == null ? "the CUDA 13 runtime (libcudart.so.13) was not found; set CUDA_HOME or install it "
                    + "(pip's nvidia-cuda-runtime, or the CUDA toolkit)"
                    : "the CUDA libraries did not load";
            // no driver says it all: the loader's error would only list java.library.path's folders
            String detail = libs.get("driver") == null ? "" : " (" + firstLine(e) + "; looked in " + dirs + ")";
            return new Report(List.of(), Map.of(), why + detail, libs);
        }
        int[] n = new int[1];
        int err = org.bytedeco.cuda.global.cudart.cudaGetDeviceCount(n);
        if (err != 0) {
            return new Report(List.of(), Map.of(), "cudaGetDeviceCount failed: " + errorName(err) + " (" + err + ")", libs);
        }
        if (n[0] == 0) return new Report(List.of(), Map.of(), "the driver reports 0 GPUs", libs);
        List<Gpu> gpus = new ArrayList<>();
        for (int i = 0; i < n[0]; i++) {
            org.bytedeco.cuda.cudart.cudaDeviceProp p = new org.bytedeco.cuda.cudart.cudaDeviceProp();
            if (org.bytedeco.cuda.global.cudart.cudaGetDeviceProperties(p, i) == 0) {
                gpus.add(new Gpu(i, p.name().getString(), p.totalGlobalMem(), p.major(), p.minor(), p.multiProcessorCount()));
            }
            p.close();
        }
        Map<String, String> versions = new LinkedHashMap<>();
        versions.put("driver", version(() -> {
            int[] v = new int[1];
            org.bytedeco.cuda.global.cudart.cudaDriverGetVersion(v);
            return v[0] / 1000 + "." + v[0] % 1000 / 10;
        }));
        versions.put("runtime", version(() -> {
            int[] v = new int[1];
            org.bytedeco.cuda.global.cudart.cudaRuntimeGetVersion(v);
            return v[0] / 1000 + "." + v[0] % 1000 / 10;
        }));
        versions.put("cuBLAS", version(() -> {
            Loader.load(org.bytedeco.cuda.global.cublas.class);
            int[] a = new int[1], b = new int[1], c = new int[1];
            org.bytedeco.cuda.global.cublas.cublasGetProperty(0, a);
            org.bytedeco.cuda.global.cublas.cublasGetProperty(1, b);
            org.bytedeco.cuda.global.cublas.cublasGetProperty(2, c);
            return a[0] + "." + b[0] + "." + c[0];
        }));
        versions.put("cuDNN", version(() -> {
            Loader.load(org.bytedeco.cuda.global.cudnn.class);
            long v = org.bytedeco.cuda.global.cudnn.cudnnGetVersion();
            return v / 10000 + "." + v % 10000 / 100 + "." + v % 100;
        }));
        versions.put("NCCL", version(() -> {
            Loader.load(org.bytedeco.cuda.global.nccl.class);
            int[] v = new int[1];
            org.bytedeco.cuda.global.nccl.ncclGetVersion(v);
            return v[0] / 10000 + "." + v[0] % 10000 / 100 + "." + v[0] % 100;
        }));
        return new Report(gpus, versions, "", libs);
    }

    private static String firstLine(Throwable e) {
        String m = String.valueOf(e.getMessage());
        int nl = m.indexOf('\n');
        return e.getClass().getSimpleName() + ": " + (nl > 0 ? m.substring(0, nl) : m);
    }

    private static String version(Supplier<String> s) {
        try {
            return s.get();
        } catch (UnsatisfiedLinkError | NoClassDefFoundError | ExceptionInInitializerError e) {
            return "not found (" + e.getMessage() + ")";
        }
    }

    private static String errorName(int err) {
        try {
            return org.bytedeco.cuda.global.cudart.cudaGetErrorName(err).getString();
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            return "error";
        }
    }

    /** The lines {@code phalanx devices} prints. */
    public static List<String> describe(Report r) {
        List<String> out = new ArrayList<>();
        if (!r.available()) {
            out.add("no CUDA device: " + r.reason());
            return out;
        }
        for (Gpu g : r.gpus()) out.add(g.toString());
        StringBuilder v = new StringBuilder();
        r.versions().forEach((k, val) -> v.append(v.length() > 0 ? ", " : "").append(k).append(' ').append(val));
        out.add(v.toString());
        return out;
    }
}
