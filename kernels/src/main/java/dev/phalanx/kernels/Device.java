package dev.phalanx.kernels;

import java.util.Objects;

/**
 * Where a tensor lives: {@code cpu} or {@code cuda:N}. Operations between tensors on two
 * different devices are an error that names both.
 */
public record Device(Kind kind, int index) {

    public enum Kind { CPU, CUDA }

    public static final Device CPU = new Device(Kind.CPU, 0);

    public Device {
        Objects.requireNonNull(kind, "kind");
        if (index < 0) throw new IllegalArgumentException("device index must be >= 0, got " + index);
        if (kind == Kind.CPU && index != 0) throw new IllegalArgumentException("the cpu device has no index, got cpu:" + index);
    }

    public static Device cuda(int index) {
        return new Device(Kind.CUDA, index);
    }

    /**
     * {@code cuda:0} when a GPU is usable, else {@code cpu}: the blitz's
     * {@code torch.device("cuda:0" if torch.cuda.is_available() else "cpu")}.
     */
    public static Device cudaIfAvailable() {
        return Cuda.isAvailable() ? cuda(0) : CPU;
    }

    /** Parses {@code cpu}, {@code cuda} (= cuda:0) or {@code cuda:N}, as PyTorch's {@code torch.device}. */
    public static Device parse(String text) {
        String s = text.trim().toLowerCase(java.util.Locale.ROOT);
        if (s.equals("cpu")) return CPU;
        if (s.equals("cuda")) return cuda(0);
        if (s.startsWith("cuda:")) {
            try {
                return cuda(Integer.parseInt(s.substring(5)));
            } catch (NumberFormatException e) {
                // fall through to the error below
            }
        }
        throw new IllegalArgumentException("unknown device '" + text + "': expected cpu, cuda or cuda:N");
    }

    public boolean isCuda() {
        return kind == Kind.CUDA;
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + index;
    }
}
