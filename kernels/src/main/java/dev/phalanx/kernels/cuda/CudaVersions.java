package dev.phalanx.kernels.cuda;

import java.util.Optional;

/**
 * The library versions the JavaCPP presets are built for: CUDA 13 and cuDNN 9. Another major
 * version loads but fails in ways that are hard to read (missing symbols, changed structs), so
 * it is refused up front with the versions found and where they came from.
 */
public final class CudaVersions {

    public static final int CUDA_MAJOR = 13;
    public static final int CUDNN_MAJOR = 9;
    /** The oldest GPUs CUDA 13 compiles for: compute capability 7.5 (Turing). CUDA 13 dropped Maxwell, Pascal and Volta. */
    public static final int MIN_COMPUTE_CAPABILITY = 75;

    private CudaVersions() { }

    /** Why these versions cannot be used, or empty. {@code runtime} and {@code driver} as CUDA reports them (13000 = 13.0), cuDNN as 91900 = 9.19.0. */
    public static Optional<String> problem(int driver, int runtime, long cudnn) {
        if (runtime / 1000 != CUDA_MAJOR) {
            return Optional.of("the CUDA runtime is " + version(runtime) + ", but Phalanx's bindings need CUDA " + CUDA_MAJOR
                    + ".x (install the CUDA " + CUDA_MAJOR + " runtime, e.g. pip's nvidia-cuda-runtime for cu13)");
        }
        if (driver < runtime / 1000 * 1000) {
            return Optional.of("the NVIDIA driver supports CUDA " + version(driver) + " only, older than the CUDA " + version(runtime)
                    + " runtime: update the driver");
        }
        if (cudnn / 10000 != CUDNN_MAJOR) {
            return Optional.of("cuDNN is " + cudnn / 10000 + "." + cudnn % 10000 / 100 + "." + cudnn % 100 + ", but Phalanx's bindings need cuDNN "
                    + CUDNN_MAJOR + ".x (pip's nvidia-cudnn-cu13)");
        }
        return Optional.empty();
    }

    /**
     * Why a GPU of compute capability {@code major.minor} cannot run Phalanx's kernels, or empty.
     * NVRTC 13 refuses {@code --gpu-architecture} below {@code sm_75}; saying so at open beats a
     * compile error at the first kernel launch.
     */
    public static Optional<String> architectureProblem(String device, String gpuName, int major, int minor) {
        if (major * 10 + minor >= MIN_COMPUTE_CAPABILITY) return Optional.empty();
        return Optional.of(device + " (" + gpuName + ") has compute capability " + major + "." + minor + ", but CUDA " + CUDA_MAJOR
                + " supports " + MIN_COMPUTE_CAPABILITY / 10 + "." + MIN_COMPUTE_CAPABILITY % 10 + " and newer only: use the CPU (--device cpu)");
    }

    static String version(int v) {
        return v / 1000 + "." + v % 1000 / 10;
    }
}
