package dev.phalanx.launcher;

import java.io.PrintStream;

import dev.phalanx.kernels.DeviceChoice;
import dev.phalanx.kernels.device.DeviceException;

/** What {@code --device cpu|cuda|auto} does, for train, eval and bench. */
final class DeviceOption {

    /** When neither the option nor a recipe says. */
    static final String DEFAULT = "auto";

    static final String DESCRIPTION = "where to compute (default: the recipe's runtime.device, else auto: a GPU when one is usable, "
            + "else the CPU with a line saying why)";

    private DeviceOption() { }

    /**
     * Resolves the device; the note on why it is not what was asked goes to {@code notes}. Returns
     * the exit code to stop with (1, after printing the one-line reason to {@code err}), or null to go on.
     */
    static Integer check(String device, String recipeValue, String recipeKey, PrintStream notes, PrintStream err) {
        String text = device != null ? device : recipeValue != null ? recipeValue : DEFAULT;
        DeviceChoice.Requested requested = DeviceChoice.parse(text, device != null || recipeKey == null ? "--device" : recipeKey);
        try {
            DeviceChoice c = DeviceChoice.resolve(requested);
            if (!c.note().isEmpty()) notes.println(c.note());
            return null;
        } catch (DeviceException e) {
            err.println(e.getMessage());
            return 1;
        }
    }
}
