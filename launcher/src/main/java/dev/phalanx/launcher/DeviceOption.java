package dev.phalanx.launcher;

import java.io.PrintStream;

import dev.phalanx.kernels.DeviceChoice;
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

    /**
     * Resolves the device; the note on why it is not what was asked goes to {@code notes} (null: say
     * nothing, for commands whose output is parsed when the device was not asked for). A command
     * that computes on the cpu only ({@code onDevices} false: eval and bench in this version) refuses
     * a device named by {@code --device}, and otherwise (auto, a recipe's device) says it stays on the cpu. Returns
     * the exit code to stop with (1, after printing the one-line reason to {@code err}), or null to go on.
     */
    static Integer check(String device, String recipeValue, String recipeKey, boolean onDevices, String command, PrintStream notes, PrintStream err) {
        String text = device != null ? device : recipeValue != null ? recipeValue : DEFAULT;
        DeviceChoice.Requested requested = DeviceChoice.parse(text, device != null || recipeKey == null ? "--device" : recipeKey);
        try {
            DeviceChoice c = DeviceChoice.resolve(requested);
            if (!onDevices && !c.device().isCpu()) {
                if (device != null && requested.kind() != DeviceChoice.Requested.Kind.AUTO) { // a recipe's device (a run's own) is not refused
                    err.println("phalanx " + command + " computes on the cpu only in this version (training runs on " + c.device() + "); use --device cpu");
                    return 1;
                }
                if (notes != null) notes.println("device: cpu (phalanx " + command + " computes on the cpu only in this version; found " + c.device() + ")");
                return null;
            }
            if (!c.note().isEmpty() && notes != null) notes.println(c.note());
            return null;
        } catch (DeviceException e) {
            err.println(e.getMessage());
            return 1;
        }
    }
}
