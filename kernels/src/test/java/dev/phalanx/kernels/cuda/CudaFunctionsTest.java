package dev.phalanx.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

/**
 * The CUDA library functions Phalanx calls are listed in {@code native-functions.txt} (which
 * {@code bench/gpu-check.sh} checks against the GPU machine's libraries before any Java runs),
 * and none of them is one of the 21 runtime functions of CUDA 13.1 that the 13.0 runtime lacks:
 * the presets bind lazily, and calling one of those kills the JVM with "symbol lookup error".
 */
class CudaFunctionsTest {

    /** In the presets' libjnicudart.so (13.1) but not in CUDA 13.0's libcudart.so.13 (nm -D, compared). */
    static final Set<String> MISSING_IN_CUDA_13_0 = Set.of("cudaDevResourceGenerateDesc", "cudaDevSmResourceSplit",
            "cudaDevSmResourceSplitByCount", "cudaDeviceGetDevResource", "cudaDeviceGetExecutionCtx", "cudaExecutionCtxDestroy",
            "cudaExecutionCtxGetDevResource", "cudaExecutionCtxGetDevice", "cudaExecutionCtxGetId", "cudaExecutionCtxRecordEvent",
            "cudaExecutionCtxStreamCreate", "cudaExecutionCtxSynchronize", "cudaExecutionCtxWaitEvent", "cudaGraphConditionalHandleCreate_v2",
            "cudaGraphExecGetId", "cudaGraphGetId", "cudaGraphNodeGetContainingGraph", "cudaGraphNodeGetLocalId", "cudaGraphNodeGetToolsId",
            "cudaGreenCtxCreate", "cudaStreamGetDevResource");

    private static final Path SOURCES = Path.of("src/main/java/dev/phalanx/kernels/cuda");

    static Set<String> listed() throws IOException {
        Set<String> out = new TreeSet<>();
        try (InputStream in = CudaKernelSources.class.getResourceAsStream("native-functions.txt")) {
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (!line.isBlank() && !line.startsWith("#")) out.add(line.trim());
            }
        }
        return out;
    }

    static String library(String fn) {
        if (fn.startsWith("cublas")) return "libcublas.so.13";
        if (fn.startsWith("cudnn")) return "libcudnn.so.9";
        if (fn.startsWith("nccl")) return "libnccl.so.2";
        if (fn.startsWith("nvrtc")) return "libnvrtc.so.13";
        if (fn.startsWith("cuda")) return "libcudart.so.13";
        return "libcuda.so.1";
    }

    /** Calls of CUDA functions in the cuda package's sources, comments, strings and constructors aside. */
    static Set<String> called() throws IOException {
        assumeTrue(Files.isDirectory(SOURCES), "the sources are not here (run from the kernels module)");
        StringBuilder all = new StringBuilder();
        try (Stream<Path> files = Files.list(SOURCES)) {
            for (Path f : (Iterable<Path>) files.sorted()::iterator) {
                String s = Files.readString(f);
                s = s.replaceAll("(?s)/\\*.*?\\*/", "").replaceAll("//[^\\n]*", "").replaceAll("\"(?:\\\\.|[^\"\\\\])*\"", "\"\"");
                s = s.replaceAll("new\\s+[\\w.]+\\s*(<[^>]*>)?\\s*\\(", "new X(");
                all.append(s);
            }
        }
        Matcher m = Pattern.compile("(?<![\\w])(?:(?:cudart|cublas|cudnn|nccl|nvrtc)\\.)?((?:cuda|cu|cublas|cudnn|nccl|nvrtc)[A-Z]\\w*)(?=\\s*\\()")
                .matcher(all);
        Set<String> out = new TreeSet<>();
        while (m.find()) out.add(library(m.group(1)) + " " + m.group(1));
        return out;
    }

    @Test
    void theListedFunctionsAreExactlyThoseTheSourcesCall() throws IOException {
        assertEquals(called(), listed(), "native-functions.txt must list what the cuda package calls");
    }

    @Test
    void noneOfThemIsMissingFromTheCuda13Runtime() throws IOException {
        for (String line : listed()) {
            String fn = line.substring(line.indexOf(' ') + 1);
            assertTrue(!MISSING_IN_CUDA_13_0.contains(fn), fn + " is not in the CUDA 13.0 runtime: calling it kills the JVM there");
        }
    }

    /** The presets' JNI library that binds each native library's functions. */
    private static String jniLibraryOf(String lib) {
        if (lib.startsWith("libcublas")) return "libjnicublas.so";
        if (lib.startsWith("libcudnn")) return "libjnicudnn.so";
        if (lib.startsWith("libnccl")) return "libjninccl.so";
        if (lib.startsWith("libnvrtc")) return "libjninvrtc.so";
        return "libjnicudart.so"; // the runtime and the driver API
    }

    /** Undefined dynamic symbols of a library, by nm; null when nm is not installed. */
    private static Set<String> imports(Path so) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder("nm", "-D", "--undefined-only", so.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            return null;
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        Set<String> names = new TreeSet<>();
        for (String l : out.split("\n")) {
            String[] f = l.trim().split("\\s+");
            if (f.length == 2) names.add(f[1].replaceAll("@.*", ""));
        }
        return names;
    }

    /**
     * Each listed function is the very symbol the presets' JNI wrappers call: no header macro
     * turned it into another (a {@code _v2}, a {@code _ptsz}), so checking the list against the
     * GPU machine's libraries (bench/gpu-check.sh) checks what the JVM will resolve there.
     */
    @Test
    void eachListedFunctionIsTheSymbolThePresetsJniWrappersCall(@org.junit.jupiter.api.io.TempDir Path tmp)
            throws IOException, InterruptedException {
        java.util.Map<String, Set<String>> byJni = new java.util.HashMap<>();
        List<String> notImported = new ArrayList<>();
        for (String line : listed()) {
            String lib = line.substring(0, line.indexOf(' ')), fn = line.substring(line.indexOf(' ') + 1), jni = jniLibraryOf(lib);
            if (!byJni.containsKey(jni)) {
                Path so = tmp.resolve(jni);
                try (InputStream in = org.bytedeco.cuda.global.cudart.class.getResourceAsStream("/org/bytedeco/cuda/linux-x86_64/" + jni)) {
                    assumeTrue(in != null, jni + " is not on the class path (not linux-x86_64)");
                    Files.copy(in, so);
                }
                Set<String> names = imports(so);
                assumeTrue(names != null, "nm is not installed");
                byJni.put(jni, names);
            }
            if (!byJni.get(jni).contains(fn)) notImported.add(line + " (" + jni + ")");
        }
        assertEquals(List.of(), notImported, "listed functions that the JNI wrappers do not call under that name");
    }

    @Test
    void theRuntimeFunctionsExistInTheCuda13RuntimeOfThisMachine() throws IOException, InterruptedException {
        Path rt = Path.of("/usr/local/cuda/lib64/libcudart.so.13");
        assumeTrue(Files.exists(rt), "no CUDA 13 runtime at " + rt + " to compare with");
        Process p;
        try {
            p = new ProcessBuilder("nm", "-D", "--defined-only", rt.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            assumeTrue(false, "nm is not installed");
            return;
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        Set<String> exported = new TreeSet<>();
        for (String l : out.split("\n")) {
            String[] f = l.trim().split("\\s+");
            if (f.length == 3) exported.add(f[2].replaceAll("@.*", ""));
        }
        List<String> absent = new ArrayList<>();
        for (String line : listed()) {
            if (line.startsWith("libcudart.so.13 ") && !exported.contains(line.substring(16))) absent.add(line.substring(16));
        }
        assertEquals(List.of(), absent, "runtime functions Phalanx calls that " + rt + " does not export");
    }
}
