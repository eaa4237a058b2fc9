package dev.phalanx.kernels.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Phalanx's own CUDA C kernels (elementwise ops, losses, reductions, pooling, fused optimizer updates,
 * dtype conversion, comparisons and strided copies, batch norm and dropout),
 * kept as {@code .cu} sources in this module's resources, to be compiled with NVRTC for the GPU
 * present. CI compiles every one with nvcc ({@code CudaKernelSourcesTest}).
 */
public final class CudaKernelSources {

    public static final List<String> FILES = List.of("elementwise.cu", "reductions.cu", "losses.cu", "softmax.cu", "optimizers.cu", "pooling.cu",
            "dtypes.cu", "normalization.cu");

    private CudaKernelSources() { }

    public static String read(String file) throws IOException {
        try (InputStream in = CudaKernelSources.class.getResourceAsStream(file)) {
            if (in == null) throw new IOException("CUDA kernel source " + file + " is missing from the kernels jar");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
