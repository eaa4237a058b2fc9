package dev.phalanx.train;

import java.util.ArrayList;
import java.util.List;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Tensor;

/**
 * The losses of steps on a device, kept there until the trainer asks (issue #9, item 5): each
 * step's loss is copied into the next slot of a small device array on the step's stream, and
 * the first read copies every filled slot back at once, so a log interval of steps costs one
 * host synchronisation instead of one per step. A full array is read back before it is reused.
 */
final class DeviceLosses {

    /** Slots before a forced read-back: at most one host synchronisation per this many steps even if nobody asks. */
    static final int CAPACITY = 1024;

    private final DeviceContext context;
    private final Tensor slots;
    private final List<Slot> unread = new ArrayList<>();
    private int reads;

    DeviceLosses(DeviceContext context) {
        this.context = context;
        this.slots = DeviceTensors.empty(context, DType.FLOAT32, CAPACITY);
    }

    /** One step's values: its loss slot, and its logits on the device (null where they are not kept). */
    private final class Slot implements dev.phalanx.train.StepRunner.Result.Pending {
        private final Tensor outputs;
        private float value;
        private boolean read;

        Slot(Tensor outputs) {
            this.outputs = outputs;
        }

        @Override
        public float loss() {
            if (!read) readAll();
            return value;
        }

        @Override
        public boolean isRead() {
            return read;
        }

        @Override
        public Tensor outputs() {
            return outputs == null ? null : outputs.to(Device.CPU);
        }
    }

    /**
     * Enqueues the copy of {@code loss} (one float32 element on this device) into the next slot on
     * the current stream and returns the step's result, unread. {@code outputs} stays on the device
     * until asked for.
     */
    StepRunner.Result record(Tensor loss, Tensor outputs) {
        if (unread.size() == CAPACITY) readAll();
        Stream s = context.stream();
        DeviceBuffer from = DeviceTensors.buffer(loss, s);
        DeviceBuffer to = DeviceTensors.buffer(slots, s).slice((long) unread.size() * Float.BYTES, Float.BYTES);
        context.api().copyDeviceToDevice(from, to, Float.BYTES, s);
        Slot slot = new Slot(outputs);
        unread.add(slot);
        return new StepRunner.Result(slot);
    }

    /** Reads every unread slot back in one copy (the host waits for the steps that wrote them). */
    void readAll() {
        if (unread.isEmpty()) return;
        float[] values = slots.to(Device.CPU).data();
        for (int i = 0; i < unread.size(); i++) {
            Slot slot = unread.get(i);
            slot.value = values[i];
            slot.read = true;
        }
        unread.clear();
        reads++;
    }

    /** How many read-backs there were: one per log interval when the trainer drives it. */
    int reads() {
        return reads;
    }
}
