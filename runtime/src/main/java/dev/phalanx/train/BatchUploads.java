package dev.phalanx.train;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.device.DeviceApi;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.Event;
import dev.phalanx.kernels.device.HostBuffer;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Tensor;

/**
 * Batches on their way to a device (issue #9, item 1), double-buffered: a batch is written into
 * one of two pinned host buffers and copied up on the context's copy stream into that slot's
 * device buffers, while the device still computes the step before; the step's stream waits for
 * the copy through an event, never the host. A slot is written again only after the copy stream
 * has waited for the step that read it ({@link #consumed}), and its pinned buffer only after its
 * last copy up has run (a host wait, needed only when the host is two batches ahead of the copy
 * stream). The pinned and device buffers are made at the first batch and kept (again only when a
 * batch is larger, or its samples of another shape).
 *
 * <p>One replica of {@link LocalSteps} uses the context's copy stream; each data-parallel replica
 * on a device ({@code parallel.Replica}) has its own, with its shard's rows copied up there while
 * its previous step computes on its own stream ({@link DeviceContext#replicaCopyStream}).
 */
public final class BatchUploads implements AutoCloseable {

    /** Two slots: one being copied up while the other is computed on. */
    static final int SLOTS = 2;

    private final DeviceContext context;
    private final DeviceApi api;
    private final Stream copies;
    private final Slot[] slots = new Slot[SLOTS];
    private int next;
    private int capacity;
    private int[] sampleShape;
    /** False only in the test that leaves out the step's wait for its batch on purpose (it must see the stale batch). */
    boolean waitForUploads = true;

    private static final class Slot {
        HostBuffer pinned;
        Tensor inputs;   // float32 [capacity, sample...] on the device
        Tensor labels;   // int64 [capacity]
        final Event uploaded;
        final Event consumed;
        boolean everUploaded;
        boolean everConsumed;

        Slot(DeviceApi api) {
            uploaded = api.newEvent();
            consumed = api.newEvent();
        }
    }

    /** The batch's inputs and labels on the device, for work on the step's stream. */
    public record OnDevice(Tensor inputs, Tensor labels) { }

    /** Batches copied up on the context's copy stream. */
    BatchUploads(DeviceContext context) {
        this(context, context.copyStream());
    }

    /** Batches copied up on {@code copies}, for work on the stream the calling thread has bound. */
    public BatchUploads(DeviceContext context, Stream copies) {
        this.context = context;
        this.api = context.api();
        this.copies = copies;
    }

    /** Whether {@link #upload} takes these: float32 inputs and int64 labels of one row each (what the data loaders give). */
    public static boolean fits(Tensor inputs, Tensor labels) {
        return inputs.dtype() == DType.FLOAT32 && labels.dtype() == DType.INT64 && inputs.dim() >= 1 && labels.dim() == 1
                && inputs.size(0) == labels.size(0) && inputs.size(0) > 0 && inputs.device().isCpu() && labels.device().isCpu();
    }

    /**
     * Enqueues the copy of one batch into the next slot and makes the current stream wait for it.
     * The returned tensors are views of the slot's device buffers: valid until the batch after next.
     */
    OnDevice upload(Tensor inputs, Tensor labels) {
        return upload(inputs, labels, waitForUploads);
    }

    /**
     * As {@link #upload(Tensor, Tensor)}; {@code stepWaits} false leaves out the step's wait for
     * the copy, only for the tests that show a missing wait gives the stale batch.
     */
    public OnDevice upload(Tensor inputs, Tensor labels, boolean stepWaits) {
        int rows = inputs.size(0);
        int[] sample = Arrays.copyOfRange(inputs.shape(), 1, inputs.dim());
        if (slots[0] == null || rows > capacity || !Arrays.equals(sample, sampleShape)) allocate(rows, sample);
        Slot slot = slots[next];
        next = (next + 1) % SLOTS;
        Stream step = context.stream();
        // the pinned buffer is free once its last copy up has run: usually long ago
        if (slot.everUploaded && !api.isComplete(slot.uploaded)) api.synchronize(slot.uploaded);
        long inputBytes = (long) rows * sampleElements() * Float.BYTES, labelBytes = (long) rows * Long.BYTES;
        ByteBuffer host = slot.pinned.buffer().duplicate().order(ByteOrder.LITTLE_ENDIAN);
        host.asFloatBuffer().put(inputs.contiguousFloats(), 0, (int) (inputBytes / Float.BYTES));
        long labelOffset = (long) capacity * sampleElements() * Float.BYTES;
        host.position((int) labelOffset);
        host.slice().order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().put(labels.contiguousLongs(), 0, rows);
        // the copy stream writes the slot only after the step that last read it
        if (slot.everConsumed) api.waitEvent(copies, slot.consumed);
        DeviceBuffer x = DeviceTensors.buffer(slot.inputs, step), y = DeviceTensors.buffer(slot.labels, step);
        if (inputBytes > 0) api.copyHostToDevice(slot.pinned, 0, x.slice(0, inputBytes), inputBytes, copies);
        if (labelBytes > 0) api.copyHostToDevice(slot.pinned, labelOffset, y.slice(0, labelBytes), labelBytes, copies);
        api.record(slot.uploaded, copies);
        slot.everUploaded = true;
        if (stepWaits) api.waitEvent(step, slot.uploaded); // the step's stream waits for its batch: the host does not
        current = slot;
        return new OnDevice(slot.inputs.narrow(0, 0, rows), slot.labels.narrow(0, 0, rows));
    }

    private Slot current;

    /** Marks that everything enqueued on the step's stream so far is all that reads the batch last uploaded. */
    public void consumed() {
        if (current == null) return;
        api.record(current.consumed, context.stream());
        current.everConsumed = true;
        current = null;
    }

    private int sampleElements() {
        int n = 1;
        for (int d : sampleShape) n *= d;
        return n;
    }

    private void allocate(int rows, int[] sample) {
        release();
        capacity = rows;
        sampleShape = sample;
        int[] shape = new int[sample.length + 1];
        shape[0] = rows;
        System.arraycopy(sample, 0, shape, 1, sample.length);
        long bytes = (long) rows * sampleElements() * Float.BYTES + (long) rows * Long.BYTES;
        for (int i = 0; i < SLOTS; i++) {
            Slot s = new Slot(api);
            s.pinned = api.mallocHost(Math.max(bytes, 1));
            s.inputs = DeviceTensors.empty(context, DType.FLOAT32, shape);
            s.labels = DeviceTensors.empty(context, DType.INT64, rows);
            Stream step = context.stream();
            // the copy stream writes these blocks too: the allocator must not hand them out again before its work is done
            context.allocator().recordStream(DeviceTensors.buffer(s.inputs, step), copies);
            context.allocator().recordStream(DeviceTensors.buffer(s.labels, step), copies);
            slots[i] = s;
        }
        next = 0;
        current = null;
    }

    /** Waits for the copies in flight and frees the pinned buffers (the device buffers go back with their tensors). */
    private void release() {
        if (slots[0] == null) return;
        api.synchronize(copies);
        for (int i = 0; i < SLOTS; i++) {
            api.freeHost(slots[i].pinned);
            slots[i].uploaded.close();
            slots[i].consumed.close();
            slots[i] = null;
        }
    }

    @Override
    public void close() {
        release();
    }
}
