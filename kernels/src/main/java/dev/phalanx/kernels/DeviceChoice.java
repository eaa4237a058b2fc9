package dev.phalanx.kernels;

import java.util.Locale;

import dev.phalanx.kernels.cuda.CudaProbe;
import dev.phalanx.kernels.cuda.CudaUnavailableException;
import dev.phalanx.kernels.device.DeviceException;

/**
 * Where a run trains, from {@code --device cpu|cuda|auto} (or a recipe's {@code runtime.device})
 * and what this machine has: the device, and the line that says why when it is not what was
 * asked for. {@code cuda} without a usable GPU is an error whose message is the one line
 * {@code no CUDA device: <reason>}; {@code auto} falls back to the CPU and says why.
 */
public record DeviceChoice(Device device, String note) {

    /** What was asked for. */
    public enum Requested { CPU, CUDA, AUTO }

    /**
     * Whether tensors can live on a GPU in this build. Not yet: the device layer is written (the
     * kernels module's device and cuda packages) but tensors move onto it in a later change, so a
     * GPU, when present, is reported and not used.
     */
    public static final boolean TRAINING_ON_GPU_BUILT = false;

    /** Parses {@code cpu}, {@code cuda} or {@code auto}; {@code where} names the option or recipe key for the error. */
    public static Requested parse(String text, String where) {
        try {
            return Requested.valueOf(text.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + " must be cpu, cuda or auto, got '" + text + "'");
        }
    }

    public static DeviceChoice resolve(Requested requested) {
        return requested == Requested.CPU ? new DeviceChoice(Device.CPU, "") : resolve(requested, CudaProbe.probe());
    }

    public static DeviceChoice resolve(Requested requested, CudaProbe.Report probe) {
        switch (requested) {
            case CPU:
                return new DeviceChoice(Device.CPU, "");
            case CUDA:
                if (!probe.available()) throw new CudaUnavailableException(probe.reason());
                if (!TRAINING_ON_GPU_BUILT) {
                    throw new DeviceException("--device cuda: found " + gpus(probe) + ", but training on a GPU is not built into this version yet; "
                            + "use --device cpu or auto");
                }
                return new DeviceChoice(Device.cuda(0), "");
            default:
                if (!probe.available()) return new DeviceChoice(Device.CPU, "device: cpu (no CUDA device: " + probe.reason() + ")");
                if (!TRAINING_ON_GPU_BUILT) {
                    return new DeviceChoice(Device.CPU, "device: cpu (found " + gpus(probe) + ", but training on a GPU is not built into this version yet)");
                }
                return new DeviceChoice(Device.cuda(0), "device: cuda (" + gpus(probe) + ")");
        }
    }

    private static String gpus(CudaProbe.Report probe) {
        int n = probe.gpus().size();
        return n == 1 ? "cuda:0 (" + probe.gpus().get(0).name() + ")" : n + " GPUs, cuda:0 to cuda:" + (n - 1);
    }
}
