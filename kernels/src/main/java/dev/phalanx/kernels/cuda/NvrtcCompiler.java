package dev.phalanx.kernels.cuda;

import static org.bytedeco.cuda.global.nvrtc.NVRTC_ERROR_COMPILATION;
import static org.bytedeco.cuda.global.nvrtc.NVRTC_SUCCESS;
import static org.bytedeco.cuda.global.nvrtc.nvrtcCompileProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcCreateProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcDestroyProgram;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetCUBIN;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetCUBINSize;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLog;
import static org.bytedeco.cuda.global.nvrtc.nvrtcGetProgramLogSize;

import java.nio.file.Path;
import java.util.List;

import org.bytedeco.cuda.nvrtc._nvrtcProgram;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

import dev.phalanx.kernels.device.KernelCatalog;

/**
 * Compiles Phalanx's kernels with NVRTC into a cubin for one architecture ({@code sm_90}): no
 * PTX, so the driver has nothing to JIT at load. A compile error names the kernels it is in and
 * carries NVRTC's log.
 */
final class NvrtcCompiler implements KernelBinaryCache.Compiler {

    /** The unit's name: compile errors read {@code file.cu(line)} through its {@code #line} markers. */
    static final String UNIT = "phalanx_kernels.cu";

    private final KernelCatalog catalog;

    NvrtcCompiler(KernelCatalog catalog) {
        this.catalog = catalog;
    }

    /** NVRTC's options for {@code arch}: the exact architecture, IEEE float arithmetic (no fast math: results within 1e-4 of the CPU). */
    static List<String> options(String arch) {
        return List.of("--gpu-architecture=" + arch, "--std=c++17", "--fmad=true");
    }

    /**
     * What, beyond the source and the architecture, a binary depends on, for {@link KernelDiskCache}'s
     * key: the options and the NVRTC library that compiles (its path, size and modification time:
     * another NVRTC is another key).
     */
    static String identity() {
        Path lib = CudaProbe.probe().libraries().get("NVRTC");
        String library = "NVRTC not located";
        if (lib != null) {
            try {
                library = lib.toRealPath() + " " + java.nio.file.Files.size(lib) + " " + java.nio.file.Files.getLastModifiedTime(lib).toMillis();
            } catch (java.io.IOException e) {
                library = lib.toString();
            }
        }
        return String.join(" ", options("sm_XX")) + "; " + library;
    }

    private static final class Builtins { // once per process: see CudaLibraries.builtinsOfNvrtc
        static final String LOADED = load();

        private static String load() {
            Path lib = CudaLibraries.builtinsOfNvrtc(CudaProbe.probe().libraries().get("NVRTC"));
            if (lib == null) return "not found next to libnvrtc.so." + CudaVersions.CUDA_MAJOR;
            try {
                System.load(lib.toString()); // a later dlopen by its soname finds it loaded
                return lib.toString();
            } catch (UnsatisfiedLinkError e) {
                return lib + " did not load: " + e.getMessage();
            }
        }
    }

    @Override
    public byte[] compile(String arch, String source) {
        Loader.load(org.bytedeco.cuda.global.nvrtc.class);
        String builtins = Builtins.LOADED;
        _nvrtcProgram program = new _nvrtcProgram();
        try (BytePointer src = new BytePointer(source); BytePointer unit = new BytePointer(UNIT)) {
            CudaErrors.nvrtc(nvrtcCreateProgram(program, src, unit, 0, (PointerPointer<?>) null, (PointerPointer<?>) null), "nvrtcCreateProgram");
        }
        try {
            List<String> opts = options(arch);
            int status;
            try (PointerPointer<BytePointer> argv = new PointerPointer<>(opts.toArray(new String[0]))) {
                status = nvrtcCompileProgram(program, opts.size(), argv);
            }
            if (status != NVRTC_SUCCESS) {
                String log = log(program);
                throw new KernelCompileException(arch, catalog.kernelsInErrors(log), failure(status, CudaErrors.nameOfNvrtcStatus(status), log, builtins));
            }
            try (SizeTPointer size = new SizeTPointer(1)) {
                CudaErrors.nvrtc(nvrtcGetCUBINSize(program, size), "nvrtcGetCUBINSize");
                try (BytePointer image = new BytePointer(size.get())) {
                    CudaErrors.nvrtc(nvrtcGetCUBIN(program, image), "nvrtcGetCUBIN");
                    byte[] out = new byte[(int) size.get()];
                    image.get(out);
                    return out;
                }
            }
        } finally {
            nvrtcDestroyProgram(program);
        }
    }

    /**
     * The log a failed compile reports. A compile error (NVRTC_ERROR_COMPILATION) is the log
     * itself; any other status (an option this NVRTC does not know, its builtins library missing)
     * comes first, by name, with where the builtins library came from.
     */
    static String failure(int status, String statusName, String log, String builtins) {
        if (status == NVRTC_ERROR_COMPILATION) return log;
        return "nvrtcCompileProgram returned " + statusName + " (" + status + "); libnvrtc-builtins: " + builtins
                + (log.isBlank() ? "" : "\n" + log);
    }

    private static String log(_nvrtcProgram program) {
        SizeTPointer size = new SizeTPointer(1);
        if (nvrtcGetProgramLogSize(program, size) != NVRTC_SUCCESS) return "(NVRTC gave no log)";
        BytePointer log = new BytePointer(size.get());
        nvrtcGetProgramLog(program, log);
        return log.getString();
    }
}
