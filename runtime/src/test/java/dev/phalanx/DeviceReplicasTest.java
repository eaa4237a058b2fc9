package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.DeviceContexts;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.ReplicaOrderAllReduce;
import dev.phalanx.kernels.device.SimulatedDevice;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.nn.F;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.ops.Reduction;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * 1, 2 and 3 LeNet replicas on one simulated device, on uneven shards of the same batches, their
 * gradients summed on the device in replica order ({@link ReplicaOrderAllReduce}, each replica's
 * all-reduce on its own stream, ordered against the tensor ops' stream by the storages' events),
 * give the same parameters as one replica within the invariant's tolerance (DESIGN.md, "What N
 * replicas share with 1 replica"), and the replicas of one run hold the same bits. Each step is
 * enqueued while the tensor ops' stream is held, so the replicas' streams depend on the events
 * alone (without {@code DeviceStorage.use}'s wait the sums read unfinished gradients: checked by
 * removing it).
 */
class DeviceReplicasTest {

    private static final int BATCH = 11, STEPS = 3;
    /** max|a - b| / max|a| per tensor: the one-step bound of the invariant, over a few steps where no discrete choice flips. */
    private static final double TOLERANCE = 1e-5;

    /** The same steps on the cpu, one replica: the reference that the device runs must also meet. */
    private static List<float[]> trainOnCpu() {
        LeNet net = LeNet.cifar(new Generator(7));
        SGD opt = new SGD(net.parameters(), 0.01f, 0.9f);
        Generator data = new Generator(11);
        for (int step = 0; step < STEPS; step++) {
            Tensor x = Tensor.randn(data, BATCH, 3, 32, 32), y = Tensor.randint(data, 0, 10, BATCH);
            opt.zeroGrad();
            F.crossEntropy(net.forward(x), y, Reduction.SUM).backward();
            for (Tensor p : net.parameters()) p.grad().mul_(1f / BATCH);
            opt.step();
        }
        List<float[]> out = new ArrayList<>();
        for (Tensor p : net.parameters()) out.add(p.data());
        return out;
    }

    private static double relativeDifference(float[] a, float[] b) {
        double diff = 0, scale = 0;
        for (int i = 0; i < a.length; i++) {
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
            scale = Math.max(scale, Math.abs(a[i]));
        }
        return diff / scale;
    }

    private static List<float[]> train(Device device, int replicas) {
        DeviceContext context = DeviceContexts.of(device);
        SimulatedDevice sim = (SimulatedDevice) context.api();
        List<LeNet> nets = new ArrayList<>();
        List<SGD> opts = new ArrayList<>();
        List<Stream> streams = new ArrayList<>();
        for (int r = 0; r < replicas; r++) {
            LeNet net = LeNet.cifar(new Generator(7));
            net.to(device);
            nets.add(net);
            opts.add(new SGD(net.parameters(), 0.01f, 0.9f));
            streams.add(context.api().newStream());
        }
        Generator data = new Generator(11);
        try (ReplicaOrderAllReduce group = new ReplicaOrderAllReduce(context.api(), replicas)) {
            for (int step = 0; step < STEPS; step++) {
                Tensor x = Tensor.randn(data, BATCH, 3, 32, 32), y = Tensor.randint(data, 0, 10, BATCH);
                // the whole step is enqueued while the tensor ops' stream is held: the replicas' all-reduce streams would run
                // ahead of the gradients they sum, every time, if any event between the streams were missing
                sim.hold(context.stream());
                int from = 0;
                for (int r = 0; r < replicas; r++) {
                    int rows = BATCH / replicas + (r < BATCH % replicas ? 1 : 0); // uneven: 11 = 6 + 5 = 4 + 4 + 3
                    Tensor xr = x.narrow(0, from, rows).to(device), yr = y.narrow(0, from, rows).to(device);
                    from += rows;
                    opts.get(r).zeroGrad();
                    F.crossEntropy(nets.get(r).forward(xr), yr, Reduction.SUM).backward(); // the batch mean comes after the sum
                }
                List<List<Tensor>> params = new ArrayList<>();
                for (LeNet n : nets) params.add(n.parameters());
                for (int k = 0; k < params.get(0).size(); k++) {
                    List<DeviceBuffer> grads = new ArrayList<>();
                    for (int r = 0; r < replicas; r++) grads.add(DeviceTensors.buffer(params.get(r).get(k).grad(), streams.get(r)));
                    group.allReduceSum(grads, streams);
                }
                for (int r = 0; r < replicas; r++) {
                    for (Tensor p : params.get(r)) p.grad().mul_(1f / BATCH); // on the tensor ops' stream: waits for the replica's stream
                    opts.get(r).step();
                }
                sim.release(context.stream());
            }
        }
        List<float[]> out = new ArrayList<>();
        for (LeNet n : nets) for (Tensor p : n.parameters()) out.add(p.to(Device.CPU).data());
        return out;
    }

    @Test
    void oneTwoAndThreeReplicasOnOneDeviceAgree() {
        Device device = Device.sim(5);
        List<float[]> one = train(device, 1), cpu = trainOnCpu();
        int tensors = one.size();
        for (int k = 0; k < tensors; k++) {
            double d = relativeDifference(cpu.get(k), one.get(k));
            assertTrue(d <= TOLERANCE, "1 replica on " + device + " vs the cpu, tensor " + k + ": max|a-b|/max|a| = " + d);
        }
        for (int replicas = 2; replicas <= 3; replicas++) {
            List<float[]> many = train(device, replicas);
            assertEquals(tensors * replicas, many.size());
            double worst = 0;
            for (int k = 0; k < tensors; k++) {
                for (int r = 1; r < replicas; r++) {
                    assertArrayEquals(many.get(k), many.get(r * tensors + k), "replica " + r + " of " + replicas + ", tensor " + k + ": the same bits as replica 0");
                }
                double d = relativeDifference(one.get(k), many.get(k));
                worst = Math.max(worst, d);
                assertTrue(d <= TOLERANCE, replicas + " replicas, tensor " + k + ": max|a-b|/max|a| = " + d);
            }
            System.out.println("DeviceReplicasTest: " + replicas + " replicas vs 1 on " + device + " after " + STEPS + " steps: max|a-b|/max|a| = " + worst);
        }
    }
}
