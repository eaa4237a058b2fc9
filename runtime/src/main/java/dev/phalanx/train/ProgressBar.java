package dev.phalanx.train;

import java.io.PrintStream;
import java.util.Locale;

/** One self-redrawing status line (epoch, step, loss, images/s, ETA) for terminals; silent otherwise. */
final class ProgressBar {

    private final PrintStream out;
    private final boolean enabled;
    private long lastDraw;
    private boolean drawn;

    ProgressBar(PrintStream out, boolean enabled) {
        this.out = out;
        this.enabled = enabled;
    }

    void update(int epoch, int epochs, int batch, int batches, java.util.function.DoubleSupplier loss, double imagesPerSecond, double etaSeconds) {
        if (!enabled) return;
        long now = System.nanoTime();
        if (drawn && now - lastDraw < 200_000_000L && batch < batches) return;
        lastDraw = now;
        int width = 30, filled = batches == 0 ? width : (int) ((long) width * batch / batches);
        String bar = "=".repeat(Math.max(0, filled - 1)) + (filled > 0 ? ">" : "") + " ".repeat(width - filled);
        long eta = Math.max(0, Math.round(etaSeconds));
        out.print(String.format(Locale.ROOT, "\r\033[Kepoch %d/%d [%s] %d/%d loss %.3f %.0f img/s ETA %d:%02d:%02d",
                epoch, epochs, bar, batch, batches, loss.getAsDouble(), imagesPerSecond, eta / 3600, eta / 60 % 60, eta % 60));
        out.flush();
        drawn = true;
    }

    /** Clears the line so that ordinary output can be printed. */
    void clear() {
        if (enabled && drawn) {
            out.print("\r\033[K");
            out.flush();
            drawn = false;
        }
    }
}
