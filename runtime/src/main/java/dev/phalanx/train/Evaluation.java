package dev.phalanx.train;

import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

import dev.phalanx.data.Batch;
import dev.phalanx.data.DataLoader;
import dev.phalanx.tensor.Tensor;

/**
 * Accuracy over a test set, overall and per class, the confusion matrix, and the predicted
 * class of the first {@link #SAMPLES} test images (for the labelled image grid, {@link SampleGrid}).
 */
public record Evaluation(int correct, int total, int[][] confusion, List<String> classes, int[] samplePredictions) {

    /** How many of the first test images keep their prediction: the blitz shows a grid of a few. */
    public static final int SAMPLES = 32;

    public static Evaluation run(UnaryOperator<Tensor> forward, DataLoader loader, List<String> classes) {
        int k = classes.size();
        int[][] confusion = new int[k][k];
        int correct = 0, total = 0;
        int[] samples = new int[SAMPLES];
        int kept = 0;
        try (DataLoader.Epoch epoch = loader.epoch(0)) {
            for (Batch b : epoch) {
                Tensor predicted = forward.apply(b.inputs()).argmax(1);
                long[] p = predicted.longData(), y = b.labels().longData();
                for (int i = 0; i < y.length; i++) {
                    confusion[(int) y[i]][(int) p[i]]++;
                    if (kept < SAMPLES) samples[kept++] = (int) p[i];
                    if (p[i] == y[i]) correct++;
                    total++;
                }
            }
        }
        return new Evaluation(correct, total, confusion, classes, java.util.Arrays.copyOf(samples, kept));
    }

    public double accuracy() {
        return total == 0 ? 0 : 100.0 * correct / total;
    }

    public double classAccuracy(int c) {
        int n = 0;
        for (int v : confusion[c]) n += v;
        return n == 0 ? 0 : 100.0 * confusion[c][c] / n;
    }

    /** The blitz's lines, then the confusion matrix. */
    public String report() {
        StringBuilder b = new StringBuilder();
        // the blitz prints with %d: truncated, not rounded
        b.append(String.format(Locale.ROOT, "Accuracy of the network on the %d test images: %d %%%n", total, (int) (100L * correct / Math.max(1, total))));
        for (int c = 0; c < classes.size(); c++) {
            int n = 0;
            for (int v : confusion[c]) n += v;
            b.append(String.format(Locale.ROOT, "Accuracy of %5s : %2d %%%n", classes.get(c), n == 0 ? 0 : (int) (100L * confusion[c][c] / n)));
        }
        b.append("Confusion matrix (rows: true class, columns: predicted class):\n");
        int width = 5;
        for (int[] row : confusion) for (int v : row) width = Math.max(width, Integer.toString(v).length() + 1);
        int nameWidth = 0;
        for (String s : classes) nameWidth = Math.max(nameWidth, s.length());
        b.append(" ".repeat(nameWidth));
        for (int c = 0; c < classes.size(); c++) b.append(String.format(Locale.ROOT, "%" + width + "d", c));
        b.append('\n');
        for (int r = 0; r < classes.size(); r++) {
            b.append(String.format(Locale.ROOT, "%" + nameWidth + "s", classes.get(r)));
            for (int c = 0; c < classes.size(); c++) b.append(String.format(Locale.ROOT, "%" + width + "d", confusion[r][c]));
            b.append(String.format(Locale.ROOT, "   (%d: %s)%n", r, classes.get(r)));
        }
        return b.toString();
    }
}
