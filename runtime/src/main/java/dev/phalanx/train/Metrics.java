package dev.phalanx.train;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import dev.phalanx.io.AtomicFiles;

/**
 * A run's numbers, three ways: {@code metrics.csv} (step, epoch, loss, learning rate, images/s,
 * test accuracy per epoch), TensorBoard event files, and a self-contained {@code report.html}
 * with the curves drawn as SVG. On resume, rows after the checkpoint's step are dropped.
 */
public final class Metrics implements AutoCloseable {

    static final String HEADER = "step,epoch,loss,lr,images_per_s,test_accuracy";

    /** One CSV row; accuracy is NaN on rows that are not an epoch's end. */
    public record Row(long step, int epoch, double loss, double lr, double imagesPerSecond, double accuracy) {
        String csv() {
            return String.format(Locale.ROOT, "%d,%d,%s,%s,%s,%s", step, epoch, num(loss), num(lr), num(imagesPerSecond), num(accuracy));
        }

        private static String num(double v) {
            return Double.isNaN(v) ? "" : String.format(Locale.ROOT, "%.6g", v);
        }

        static Row parse(String line) {
            String[] f = line.split(",", -1);
            return new Row(Long.parseLong(f[0]), Integer.parseInt(f[1]), d(f[2]), d(f[3]), d(f[4]), d(f[5]));
        }

        private static double d(String s) {
            return s.isEmpty() ? Double.NaN : Double.parseDouble(s);
        }
    }

    /**
     * Told of every row as it is written, for a live view of the run (the service's event
     * stream). Called on the training thread: return quickly.
     */
    public interface Listener {
        Listener NONE = new Listener() { };

        /** The run (re)starts at this step; rows after it, from an interrupted earlier attempt, are gone. */
        default void started(long step) { }

        /** A loss point, every {@code train.metrics-every} steps. */
        default void step(Row row) { }

        /** An epoch's end: the accuracy row and the whole evaluation. */
        default void epoch(Row row, Evaluation evaluation) { }
    }

    private final Path runDir, csv;
    private final Listener listener;
    private final List<Row> rows = new ArrayList<>();
    private final TensorBoardWriter tensorboard;
    private final String title;

    public Metrics(Path runDir, String title, long resumeStep) throws IOException {
        this(runDir, title, resumeStep, Listener.NONE);
    }

    public Metrics(Path runDir, String title, long resumeStep, Listener listener) throws IOException {
        this.runDir = runDir;
        this.listener = listener == null ? Listener.NONE : listener;
        this.title = title;
        this.csv = runDir.resolve("metrics.csv");
        Files.createDirectories(runDir);
        if (resumeStep > 0 && Files.isRegularFile(csv)) {
            for (String line : Files.readAllLines(csv)) {
                if (line.isBlank() || line.startsWith("step")) continue;
                try {
                    Row r = Row.parse(line);
                    if (r.step() <= resumeStep) rows.add(r);
                } catch (RuntimeException e) {
                    // a torn last line from a killed run: dropped
                }
            }
        }
        StringBuilder b = new StringBuilder(HEADER).append('\n');
        for (Row r : rows) b.append(r.csv()).append('\n');
        AtomicFiles.writeBytes(csv, b.toString().getBytes(StandardCharsets.UTF_8));
        this.tensorboard = new TensorBoardWriter(runDir);
        this.listener.started(resumeStep);
    }

    public void step(long step, int epoch, double loss, double lr, double imagesPerSecond) throws IOException {
        Row row = new Row(step, epoch, loss, lr, imagesPerSecond, Double.NaN);
        add(row);
        tensorboard.scalar("train/loss", step, loss);
        tensorboard.scalar("train/lr", step, lr);
        tensorboard.scalar("train/images_per_s", step, imagesPerSecond);
        listener.step(row);
    }

    public void epoch(long step, int epoch, double accuracy) throws IOException {
        epoch(step, epoch, accuracy, null);
    }

    public void epoch(long step, int epoch, Evaluation evaluation) throws IOException {
        epoch(step, epoch, evaluation.accuracy(), evaluation);
    }

    private void epoch(long step, int epoch, double accuracy, Evaluation evaluation) throws IOException {
        Row row = new Row(step, epoch, Double.NaN, Double.NaN, Double.NaN, accuracy);
        add(row);
        tensorboard.scalar("test/accuracy", step, accuracy);
        writeReport();
        listener.epoch(row, evaluation);
    }

    private void add(Row r) throws IOException {
        rows.add(r);
        Files.writeString(csv, r.csv() + "\n", StandardOpenOption.APPEND);
    }

    public List<Row> rows() {
        return List.copyOf(rows);
    }

    public void writeReport() throws IOException {
        AtomicFiles.writeBytes(runDir.resolve("report.html"), HtmlReport.render(title, rows).getBytes(StandardCharsets.UTF_8));
    }

    @Override
    public void close() throws IOException {
        writeReport();
        tensorboard.close();
    }
}
