package dev.phalanx.parallel;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.DeviceContexts;
import dev.phalanx.kernels.cuda.CudaDevice;
import dev.phalanx.kernels.cuda.NcclAllReduce;
import dev.phalanx.kernels.device.AllReduceGroup;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.ReplicaOrderAllReduce;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Tensor;

/**
 * The all-reduce of replicas whose gradients stay in device memory: {@link ReplicaOrderAllReduce}
 * when every replica is on one device (each on its own stream; the sum in replica order, so every
 * replica receives the same bits), {@link NcclAllReduce} when each is on a GPU of its own. Each
 * replica offers a bucket as backward completes it ({@link #contribute}: its flattened gradients
 * and the tensor the sum goes to, on the stream it enqueues on); the replica whose offer completes
 * a bucket enqueues, for every replica, a copy of its contribution into its sum tensor on that
 * replica's stream, then the group's sum over those. Nothing waits for the device: each replica's
 * stream sees the sum after that point of its own work, and {@link #awaitReduced} only waits on
 * the host until the bucket's reduction has been enqueued. Contributions are never written, so a
 * replica that failed and offers again gets a sum taken anew. Where neither fits (replicas on
 * several devices sharing some, on distinct simulated devices, or mixed with the cpu), replicas
 * go through the host all-reduce ({@link #forDevices} answers null).
 */
public final class DeviceGroupAllReduce implements AllReduce, AutoCloseable {

    private final AllReduceGroup group;
    private final int replicas;
    private final String what;
    private final Map<Long, Map<Integer, Bucket>> rounds = new HashMap<>();
    private final boolean oneDevice;
    private DeviceStepGraph stepGraph;

    private final class Bucket {
        final Tensor[] contributions = new Tensor[replicas];
        final Tensor[] sums = new Tensor[replicas];
        final Stream[] streams = new Stream[replicas];
        int arrived;
        boolean reduced;
    }

    DeviceGroupAllReduce(AllReduceGroup group, String what) {
        this.group = group;
        this.replicas = group.size();
        this.what = what;
        this.oneDevice = group instanceof ReplicaOrderAllReduce;
    }

    /**
     * The replicas' shared CUDA graph of their whole step, made on first ask, when they all share
     * one device ({@code context}'s); null otherwise (NCCL across GPUs: their steps run eagerly).
     */
    public synchronized DeviceStepGraph stepGraph(DeviceContext context) {
        if (!oneDevice) return null;
        if (stepGraph == null) stepGraph = new DeviceStepGraph(context, replicas);
        return stepGraph;
    }

    synchronized DeviceStepGraph stepGraphIfMade() {
        return stepGraph;
    }

    /**
     * The device all-reduce for replicas on {@code devices}, or null where the host all-reduce is
     * the way: some replica on the cpu, replicas spread over several devices of which some hold more
     * than one, distinct simulated devices (the simulation has no NCCL), or NCCL not loading.
     */
    public static DeviceGroupAllReduce forDevices(List<Device> devices) {
        if (devices.isEmpty() || devices.stream().anyMatch(Device::isCpu)) return null;
        Device first = devices.get(0);
        if (devices.stream().allMatch(first::equals)) {
            DeviceContext c = DeviceContexts.of(first);
            return new DeviceGroupAllReduce(new ReplicaOrderAllReduce(c.api(), devices.size()),
                    devices.size() + " replica(s) on " + first + ", summed there in replica order");
        }
        boolean distinctGpus = devices.stream().allMatch(Device::isCuda) && new HashSet<>(devices).size() == devices.size();
        if (!distinctGpus) return null;
        List<CudaDevice> gpus = new ArrayList<>();
        for (Device d : devices) gpus.add((CudaDevice) DeviceContexts.of(d).api());
        try {
            return new DeviceGroupAllReduce(new NcclAllReduce(gpus), devices.size() + " GPUs, summed by NCCL");
        } catch (RuntimeException e) { // NCCL missing or refusing: the host all-reduce still gives the same sums
            return null;
        }
    }

    /** What sums, for the start-up line. */
    public String describe() {
        return what;
    }

    private Bucket bucket(long step, int bucket) {
        return rounds.computeIfAbsent(step, s -> new HashMap<>()).computeIfAbsent(bucket, b -> new Bucket());
    }

    /**
     * Replica {@code replica} offers {@code contribution} (its flat gradients of {@code bucket}) and
     * the tensor its sum goes to, both written on the stream its thread enqueues on. The call that
     * completes the bucket enqueues the reduction; the group's enqueues run one at a time.
     */
    public void contribute(long step, int replica, int bucket, Tensor contribution, Tensor sum) {
        Stream stream = DeviceTensors.context(contribution).stream();
        synchronized (this) {
            Bucket b = bucket(step, bucket);
            if (b.contributions[replica] == null) b.arrived++;
            b.contributions[replica] = contribution;
            b.sums[replica] = sum;
            b.streams[replica] = stream;
            b.reduced = false;
            if (b.arrived < replicas) return;
            List<DeviceBuffer> targets = new ArrayList<>(replicas);
            List<Stream> streams = new ArrayList<>(replicas);
            for (int k = 0; k < replicas; k++) {
                Stream s = b.streams[k];
                DeviceBuffer from = DeviceTensors.buffer(b.contributions[k], s), to = DeviceTensors.buffer(b.sums[k], s);
                if (from.bytes() != to.bytes()) {
                    throw new IllegalStateException("bucket " + bucket + " of step " + step + ": replica " + k + " offered " + from.bytes() / Float.BYTES
                            + " values for a sum of " + to.bytes() / Float.BYTES + " (replicas hold different models?)");
                }
                if (from.bytes() > 0) DeviceTensors.context(b.contributions[k]).api().copyDeviceToDevice(from, to, from.bytes(), s);
                targets.add(to);
                streams.add(s);
            }
            group.allReduceSum(targets, streams);
            b.reduced = true;
            notifyAll();
        }
    }

    /** Waits (on the host) until the reduction of {@code bucket} in round {@code step} is enqueued; its sums are then in the replicas' sum tensors. */
    public synchronized void awaitReduced(long step, int bucket, Duration timeout) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            Bucket b = bucket(step, bucket);
            if (b.reduced) return;
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                StringBuilder missing = new StringBuilder();
                for (int k = 0; k < replicas; k++) if (b.contributions[k] == null) missing.append(missing.length() > 0 ? ", " : "").append(k);
                throw new TimeoutException("device all-reduce of bucket " + bucket + " in step " + step + " timed out after " + timeout.toMillis()
                        + " ms waiting for replica(s) " + missing);
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }

    @Override
    public void contribute(long step, int replica, int bucket, float[] values) {
        throw new IllegalStateException("replica " + replica + " offered host values to the device all-reduce (" + what + "): its replicas must all be on the device");
    }

    @Override
    public float[] result(long step, int bucket, Duration timeout) {
        throw new IllegalStateException("the device all-reduce (" + what + ") leaves its sums on the device: use awaitReduced");
    }

    @Override
    public synchronized void withdraw(long step, int replica) {
        Map<Integer, Bucket> round = rounds.get(step);
        if (round == null) return;
        for (Bucket b : round.values()) {
            if (b.contributions[replica] != null) {
                b.contributions[replica] = null;
                b.arrived--;
                b.reduced = false; // sums already enqueued are taken again once the replica offers anew
            }
        }
    }

    @Override
    public synchronized void finish(long step) {
        rounds.remove(step);
    }

    @Override
    public synchronized void close() {
        rounds.clear();
        if (stepGraph != null) stepGraph.close();
        group.close();
    }
}
