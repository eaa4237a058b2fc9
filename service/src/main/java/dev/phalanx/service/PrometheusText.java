package dev.phalanx.service;

import java.util.List;
import java.util.Locale;

/**
 * {@code GET /metrics} in Prometheus' text exposition format (version 0.0.4): the runs by
 * state, each run's step, images/s, loss and accuracy, and the replicas of the runs on the
 * devices.
 */
final class PrometheusText {

    private PrometheusText() { }

    static String render(List<RunRecord> runs) {
        StringBuilder b = new StringBuilder();
        header(b, "phalanx_runs", "Runs by state.");
        for (RunState s : RunState.values()) {
            long n = runs.stream().filter(r -> r.state() == s).count();
            b.append("phalanx_runs{state=\"").append(s.json()).append("\"} ").append(n).append('\n');
        }
        header(b, "phalanx_run_steps", "Training steps done by the run.");
        for (RunRecord r : runs) sample(b, "phalanx_run_steps", r, r.step());
        header(b, "phalanx_run_images_per_second", "Training images per second over the last metrics interval.");
        for (RunRecord r : runs) if (r.imagesPerSecond() != null) sample(b, "phalanx_run_images_per_second", r, r.imagesPerSecond());
        header(b, "phalanx_run_loss", "Mean training loss over the last metrics interval.");
        for (RunRecord r : runs) if (r.loss() != null) sample(b, "phalanx_run_loss", r, r.loss());
        header(b, "phalanx_run_test_accuracy_percent", "Test accuracy after the last epoch, in percent.");
        for (RunRecord r : runs) if (r.accuracy() != null) sample(b, "phalanx_run_test_accuracy_percent", r, r.accuracy());
        header(b, "phalanx_replicas", "Replicas of the runs on the devices (1 per replica), with their state.");
        for (RunRecord r : runs) {
            if (r.state() != RunState.RUNNING) continue;
            for (int i = 0; i < r.replicas(); i++) {
                b.append("phalanx_replicas{run=\"").append(label(r.id())).append("\",replica=\"").append(i)
                        .append("\",device=\"cpu\",state=\"training\"} 1\n");
            }
        }
        return b.toString();
    }

    private static void header(StringBuilder b, String name, String help) {
        b.append("# HELP ").append(name).append(' ').append(help).append('\n');
        b.append("# TYPE ").append(name).append(" gauge\n");
    }

    private static void sample(StringBuilder b, String name, RunRecord r, double v) {
        b.append(name).append("{run=\"").append(label(r.id())).append("\",state=\"").append(r.state().json()).append("\"} ")
                .append(number(v)).append('\n');
    }

    private static String number(double v) {
        if (Double.isNaN(v)) return "NaN";
        if (Double.isInfinite(v)) return v > 0 ? "+Inf" : "-Inf";
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return String.format(Locale.ROOT, "%s", v);
    }

    private static String label(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
