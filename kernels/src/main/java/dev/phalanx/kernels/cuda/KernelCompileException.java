package dev.phalanx.kernels.cuda;

import java.util.List;

import dev.phalanx.kernels.device.DeviceException;

/** NVRTC could not compile Phalanx's kernels: names the kernels the errors are in, the architecture and the compiler's log. */
public final class KernelCompileException extends DeviceException {

    private final List<String> kernels;
    private final String log;

    public KernelCompileException(String arch, List<String> kernels, String log) {
        super("NVRTC could not compile " + (kernels.isEmpty() ? "Phalanx's kernels" : "kernel " + String.join(", ", kernels)) + " for " + arch
                + ":\n" + log.strip());
        this.kernels = List.copyOf(kernels);
        this.log = log;
    }

    public List<String> kernels() {
        return kernels;
    }

    public String log() {
        return log;
    }
}
