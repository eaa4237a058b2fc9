package dev.phalanx.train;

import java.util.ArrayDeque;

/**
 * The trainer's running loss sums, fed by steps whose losses may still be on a device (issue #9,
 * item 5: a step is enqueued with no host synchronisation). Steps are added as they are
 * enqueued and read ({@link #settle}) only where a sum is needed (a log line, a metrics row, a
 * checkpoint, the progress bar drawing, the end of an epoch), in step order, so the sums and the
 * lines are those of reading every loss at once; a device runner reads all its unread losses in
 * one copy at the first of them.
 */
final class StepLosses {

    /** One enqueued step: its result, its number (from 1), its epoch and its batch index (from 0). */
    record Step(StepRunner.Result result, long step, int epoch, int batch) { }

    /** The first step whose loss is not finite, with that loss. */
    record NonFinite(Step step, float loss) { }

    private final ArrayDeque<Step> unread = new ArrayDeque<>();
    /** The log lines' sum and count (train.log-every), and the metrics rows' (train.metrics-every). */
    double running;
    int count;
    double metricsLoss;
    int metricsCount;
    /** The loss of the last step read, for the progress bar. */
    float last = Float.NaN;

    StepLosses(double running, int count) {
        this.running = running;
        this.count = count;
    }

    void add(StepRunner.Result result, long step, int epoch, int batch) {
        unread.add(new Step(result, step, epoch, batch));
    }

    /**
     * Reads every unread step's loss in order into the sums; stops at the first that is not
     * finite and returns it (the steps after it are dropped: training stops there), else null.
     */
    NonFinite settle() {
        while (!unread.isEmpty()) {
            Step s = unread.poll();
            float loss = s.result().loss();
            if (!Float.isFinite(loss)) {
                unread.clear();
                return new NonFinite(s, loss);
            }
            running += loss;
            count++;
            metricsLoss += loss;
            metricsCount++;
            last = loss;
        }
        return null;
    }
}
