package dev.phalanx.autograd;

import java.util.HashSet;
import java.util.Set;

/**
 * PyTorch's UserWarnings, printed once per thread on stderr (per thread, as grad mode is: no
 * state shared between replicas).
 */
public final class Warnings {

    private static final ThreadLocal<Set<String>> SHOWN = ThreadLocal.withInitial(HashSet::new);

    private Warnings() { }

    /** Prints {@code UserWarning: message} the first time this thread warns with {@code key}. */
    public static void warnOnce(String key, String message) {
        if (SHOWN.get().add(key)) System.err.println("UserWarning: " + message);
    }
}
