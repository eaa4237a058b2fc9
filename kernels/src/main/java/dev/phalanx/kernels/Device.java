package dev.phalanx.kernels;

import java.util.Objects;

/**
 * Where a tensor lives: {@code cpu}, {@code cuda:N}, or {@code sim:N}, the simulated device
 * ({@code SimulatedDevice}: the CPU with its own memory and a thread per stream, so that tensors on
 * a device, and everything above them, run in {@code mvn test} without a GPU). Operations between
 * tensors on two different devices are an error that names both. {@link DeviceContexts} opens the
 * device behind {@code cuda:N} and {@code sim:N} the first time a tensor goes there.
 */
public record Device(Kind kind, int index) {

    public enum Kind {
        CPU("cpu"), CUDA("cuda"), SIM("sim");

        private final String prefix;

        Kind(String prefix) {
            this.prefix = prefix;
        }

        /** The name's part before the colon, as in {@code cuda:0}. */
        public String prefix() {
            return prefix;
        }
    }

    public static final Device CPU = new Device(Kind.CPU, 0);

    public Device {
        Objects.requireNonNull(kind, "kind");
        if (index < 0) throw new IllegalArgumentException("device index must be >= 0, got " + index);
        if (kind == Kind.CPU && index != 0) throw new IllegalArgumentException("the cpu device has no index, got cpu:" + index);
    }

    public static Device cuda(int index) {
        return new Device(Kind.CUDA, index);
    }

    /** The simulated device number {@code index}: the CPU behind the device interface (see the class comment). */
    public static Device sim(int index) {
        return new Device(Kind.SIM, index);
    }

    /**
     * {@code cuda:0} when a GPU is usable, else {@code cpu}: the blitz's
     * {@code torch.device("cuda:0" if torch.cuda.is_available() else "cpu")}.
     */
    public static Device cudaIfAvailable() {
        return Cuda.isAvailable() ? cuda(0) : CPU;
    }

    /** Parses {@code cpu}, {@code cuda} (= cuda:0), {@code cuda:N}, {@code sim} (= sim:0) or {@code sim:N}, as PyTorch's {@code torch.device}. */
    public static Device parse(String text) {
        String s = text.trim().toLowerCase(java.util.Locale.ROOT);
        if (s.equals("cpu")) return CPU;
        for (Kind k : new Kind[] {Kind.CUDA, Kind.SIM}) {
            if (s.equals(k.prefix)) return new Device(k, 0);
            if (s.startsWith(k.prefix + ":")) {
                try {
                    int index = Integer.parseInt(s.substring(k.prefix.length() + 1));
                    if (index >= 0) return new Device(k, index);
                } catch (NumberFormatException e) {
                    // fall through to the error below
                }
            }
        }
        throw new IllegalArgumentException("unknown device '" + text + "': expected cpu, cuda, cuda:N, sim or sim:N");
    }

    public boolean isCpu() {
        return kind == Kind.CPU;
    }

    public boolean isCuda() {
        return kind == Kind.CUDA;
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : kind.prefix + ":" + index;
    }
}
