package dev.phalanx.kernels.device;

import java.util.ArrayList;
import java.util.List;

/**
 * The all-reduce of replicas that share one device, each on its own stream: replica 0's stream
 * waits for every replica's gradients, sums them in replica order ({@code ((g0 + g1) + g2) ...},
 * the order the host all-reduce uses) with the {@code axpy_f32} kernel, copies the sum to the
 * other replicas' buffers, and the other streams wait for that. NCCL does not allow two ranks on
 * one GPU, so this is how several replicas on one GPU, and the N-replica invariant on a machine
 * with one GPU, reduce on the device. Events are made once per group: no allocation per call.
 */
public final class ReplicaOrderAllReduce implements AllReduceGroup {

    private final DeviceApi device;
    private final List<Event> ready = new ArrayList<>();
    private final Event summed;

    public ReplicaOrderAllReduce(DeviceApi device, int replicas) {
        if (replicas < 1) throw new IllegalArgumentException("an all-reduce group needs at least one replica, got " + replicas);
        this.device = device;
        for (int i = 0; i < replicas; i++) ready.add(device.newEvent());
        summed = device.newEvent();
    }

    @Override
    public int size() {
        return ready.size();
    }

    @Override
    public void allReduceSum(List<DeviceBuffer> buffers, List<Stream> streams) {
        int n = ready.size();
        if (buffers.size() != n || streams.size() != n) {
            throw new IllegalArgumentException("all-reduce over " + n + " replicas got " + buffers.size() + " buffers and " + streams.size() + " streams");
        }
        long bytes = buffers.get(0).bytes();
        for (DeviceBuffer b : buffers) {
            b.checkOn(device);
            if (b.bytes() != bytes) throw new IllegalArgumentException("all-reduce buffers differ in size: " + buffers);
        }
        if (n == 1) return;
        Stream root = streams.get(0);
        for (int i = 1; i < n; i++) {
            device.record(ready.get(i), streams.get(i));
            device.waitEvent(root, ready.get(i));
        }
        long count = bytes / Float.BYTES;
        LaunchConfig cfg = LaunchConfig.linear(count);
        for (int i = 1; i < n; i++) {
            device.launch(root, "axpy_f32", cfg, KernelArgs.of().ptr(buffers.get(i)).ptr(buffers.get(0)).f32(1f).i64(count));
        }
        for (int i = 1; i < n; i++) device.copyDeviceToDevice(buffers.get(0), buffers.get(i), bytes, root);
        device.record(summed, root);
        for (int i = 1; i < n; i++) device.waitEvent(streams.get(i), summed);
    }

    @Override
    public void close() {
        for (Event e : ready) e.close();
        summed.close();
    }
}
