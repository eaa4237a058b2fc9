package dev.phalanx.launcher;

import java.io.PrintStream;
import java.util.Locale;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceChoice;
import dev.phalanx.kernels.cuda.CudaProbe;
import dev.phalanx.kernels.device.DeviceException;

/** What {@code --device cpu|cuda|cuda:N|sim|sim:N|auto} does, for train, eval and bench. */
final class DeviceOption {

    /** When neither the option nor a recipe says. */
    static final String DEFAULT = "auto";

    static final String LABEL = "DEVICE";

    static final String DESCRIPTION = "where to compute: cpu, cuda (every GPU, a replica each), cuda:N, auto (default, unless the recipe's "
            + "runtime.device says: the GPUs when one is usable, else the CPU with a line saying why), or sim / sim:N, the simulated device "
            + "(the CPU behind the GPU's interface: for tests and for trying the GPU path without a GPU)";

    private DeviceOption() { }

    /** Where a command computes ({@code choice}), or the exit code to stop with ({@code exit}, the reason already printed). */
    record Outcome(DeviceChoice choice, Integer exit) {
        Device device() {
            return choice.device();
        }
    }

    /**
     * Resolves the device from {@code --device} ({@code device}), else the recipe's
     * {@code runtime.device} ({@code recipeValue}, named by {@code recipeKey} in errors), else
     * {@link #DEFAULT}. The note on why it is not what was asked goes to {@code notes} (null: say
     * nothing, for output that is parsed). A device that cannot be had here is an error (one line on
     * {@code err}, exit 1), except a recipe's with {@code recipeFallsBack}: eval reads a run's recipe,
     * which says where the run trained, not where it must be evaluated, so a GPU it names that this
     * machine lacks gives the cpu and a line saying why.
     */
    static Outcome choose(String device, String recipeValue, String recipeKey, boolean recipeFallsBack, PrintStream notes, PrintStream err) {
        String text = device != null ? device : recipeValue != null ? recipeValue : DEFAULT;
        DeviceChoice.Requested requested = DeviceChoice.parse(text, device != null || recipeKey == null ? "--device" : recipeKey);
        try {
            DeviceChoice c = DeviceChoice.resolve(requested);
            if (!c.note().isEmpty() && notes != null) notes.println(c.note());
            return new Outcome(c, null);
        } catch (DeviceException e) {
            if (device == null && recipeValue != null && recipeFallsBack) {
                if (notes != null) notes.println("device: cpu (" + recipeKey + " is " + recipeValue + ", but " + e.getMessage() + ")");
                return new Outcome(DeviceChoice.resolve(DeviceChoice.Requested.CPU), null);
            }
            err.println(e.getMessage());
            return new Outcome(null, 1);
        }
    }

    /** For train: the exit code to stop with, or null to go on (the trainer places its replicas from the recipe). */
    static Integer check(String device, String recipeValue, String recipeKey, PrintStream notes, PrintStream err) {
        return choose(device, recipeValue, recipeKey, false, notes, err).exit();
    }

    /**
     * The device in words, for start-up lines: a GPU's name, memory and compute capability with the
     * driver's and libraries' versions, or what the simulated device is.
     */
    static String describe(Device device) {
        return switch (device.kind()) {
            case CPU -> "cpu";
            case SIM -> device + " (the simulated device: the CPU behind the GPU's interface, not faster than the CPU)";
            case CUDA -> {
                CudaProbe.Report probe = CudaProbe.probe();
                if (device.index() >= probe.gpus().size()) yield device.toString();
                StringBuilder v = new StringBuilder();
                probe.versions().forEach((k, val) -> v.append(v.length() > 0 ? ", " : "").append(k).append(' ').append(val));
                yield String.format(Locale.ROOT, "%s (%s)", probe.gpus().get(device.index()), v);
            }
        };
    }
}
