package dev.phalanx.bench;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.device.DeviceApi;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.Event;
import dev.phalanx.kernels.device.HostBuffer;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Tensor;

/**
 * Where a training step's time goes on a device, by the device's own clock (issue #9): timing
 * events ({@link DeviceApi#newTimingEvent}) around the batch's copy up and around the step's
 * compute, over {@link #STEPS} steps run after a benchmark's timed windows, as medians per step.
 *
 * <p>The copy up is what training does with each batch: the inputs (float32) and labels (int64)
 * from a pinned host buffer into the batch's device buffers, on the context's copy stream, after
 * the step before has read them; the step's stream waits for it through an event. The compute span
 * runs from the step's first operation to its last on its stream, the wait for the copy excluded:
 * it holds the kernels and any gaps where the device waited for the host to launch the next one,
 * so a compute span close to the host's enqueue time means a launch-bound step.
 *
 * @param steps       steps measured
 * @param copyUpMs    median device time of one batch's copy up
 * @param computeMs   median device time from the step's first operation to its last
 * @param batchBytes  bytes copied up per step (inputs and labels)
 */
public record DeviceStepSplit(int steps, double copyUpMs, double computeMs, long batchBytes) {

    /** Steps measured: enough for a median, few enough to add nothing noticeable to a benchmark. */
    public static final int STEPS = 8;

    /**
     * Runs {@link #STEPS} steps of {@code step} on {@code context}'s stream, each after copying
     * {@code hostX} and {@code hostY} up into {@code x} and {@code y} (the device tensors the step
     * reads: the same values, so the steps compute what they did before), and returns the medians.
     * Waits for the device at the end.
     */
    static DeviceStepSplit measure(DeviceContext context, Tensor hostX, Tensor hostY, Tensor x, Tensor y, Runnable step) {
        DeviceApi api = context.api();
        Stream compute = context.stream(), copies = context.copyStream();
        long xBytes = (long) hostX.numel() * Float.BYTES, yBytes = (long) hostY.numel() * Long.BYTES;
        api.synchronize(compute);
        HostBuffer pinned = api.mallocHost(xBytes + yBytes);
        List<Event> events = new ArrayList<>();
        try {
            ByteBuffer host = pinned.buffer().duplicate().order(ByteOrder.LITTLE_ENDIAN);
            host.asFloatBuffer().put(hostX.contiguousFloats(), 0, hostX.numel());
            host.position((int) xBytes);
            host.slice().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().put(hostY.contiguousLongs(), 0, hostY.numel());
            DeviceBuffer xb = DeviceTensors.buffer(x, compute), yb = DeviceTensors.buffer(y, compute);
            // the copy stream writes these blocks too: the allocator must not hand them out before its work is done
            context.allocator().recordStream(xb, copies);
            context.allocator().recordStream(yb, copies);
            Event[][] marks = new Event[STEPS][4];
            Event consumed = null;
            for (int i = 0; i < STEPS; i++) {
                for (int k = 0; k < 4; k++) events.add(marks[i][k] = api.newTimingEvent());
                if (consumed != null) api.waitEvent(copies, consumed); // the step before has read the batch
                api.record(marks[i][0], copies);
                api.copyHostToDevice(pinned, 0, xb, xBytes, copies);
                api.copyHostToDevice(pinned, xBytes, yb, yBytes, copies);
                api.record(marks[i][1], copies);
                api.waitEvent(compute, marks[i][1]);
                api.record(marks[i][2], compute);
                step.run();
                api.record(marks[i][3], compute);
                consumed = marks[i][3];
            }
            api.synchronize(marks[STEPS - 1][3]);
            api.synchronize(copies);
            double[] copyUp = new double[STEPS], computeSpan = new double[STEPS];
            for (int i = 0; i < STEPS; i++) {
                copyUp[i] = api.elapsedMillis(marks[i][0], marks[i][1]);
                computeSpan[i] = api.elapsedMillis(marks[i][2], marks[i][3]);
            }
            return new DeviceStepSplit(STEPS, median(copyUp), median(computeSpan), xBytes + yBytes);
        } finally {
            for (Event e : events) e.close();
            api.freeHost(pinned);
        }
    }

    private static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /**
     * The line {@code phalanx bench} prints (and {@code bench/gpu-check.sh} reads), "device time per
     * step ...". {@code replayed}: the step was one graph replay, launched at once, so its compute
     * span holds no gaps waiting for the host.
     */
    public String describe(String device, boolean replayed) {
        return String.format(java.util.Locale.ROOT, "device time per step (timing events, median of %d steps): copy up %.3f ms (%d bytes of batch, "
                + "pinned, on the copy stream), compute %.3f ms (%s)", steps, copyUpMs, batchBytes, computeMs,
                replayed ? "one graph replay on " + device + "'s stream: the kernels, launched at once"
                        : "the step's first to last operation on " + device + "'s stream: kernels, and gaps waiting for the host's launches");
    }
}
