package dev.phalanx.parallel.cluster;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.List;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.cuda.CudaDevice;
import dev.phalanx.train.Recipe;

/**
 * ClusterCommunicatorTest on GPUs with NCCL itself ({@link NcclRankGroups}: ncclGetUniqueId on
 * the coordinator, the id handed out in RingFormed, ncclCommInitRank on each node, the buckets
 * summed by ncclAllReduce): three nodes in this JVM on cuda:0, cuda:1 and cuda:2 (NCCL refuses
 * two ranks on one GPU), at 1e-4 relative against 1 replica on the cpu. And one rank alone on
 * cuda:0, where one GPU is all there is. Skipped without the GPUs; written without them: it has
 * never run. Also tagged gpu-cluster: it needs Pekko's cluster and remoting jars, which would push
 * bench/gpu-check.sh's pack over the 64 MiB that travels to a lent GPU machine, so the pack leaves
 * it out (run it where the whole test class path is at hand: mvn test on a machine with GPUs).
 */
@Tag("gpu")
@Tag("gpu-cluster")
class NcclClusterGpuTest extends ClusterCommunicatorTest {

    private static int gpus() {
        assumeTrue(Cuda.isAvailable(), "no CUDA device: " + Cuda.unavailableReason());
        return CudaDevice.deviceCount();
    }

    @Test
    @Override
    void gpuNodesSumWithTheCommunicatorWhoseIdTheCoordinatorHandsOut() throws Exception {
        int n = gpus();
        assumeTrue(n >= 3, "three GPU nodes need three GPUs (NCCL refuses two ranks on one GPU); this machine has " + n);
        super.gpuNodesSumWithTheCommunicatorWhoseIdTheCoordinatorHandsOut();
    }

    @Override
    protected Device device(int node) {
        return Device.cuda(node);
    }

    @Override
    protected RankGroups groups(InMemoryRankGroups hub, String name, Device device) {
        return RankGroups.forDevices(List.of(device));
    }

    @Override
    protected double tolerance() {
        return 1e-4;
    }

    @Override
    protected void checkCommunicator(InMemoryRankGroups hub, List<String> order, Recipe recipe) {
        // NCCL keeps no record of who joined: the ranks are checked by the nodes' lines, the sums by the parameters
    }

    /** One rank on cuda:0: the id, the communicator, a host-staged sum (over one rank: the values), then abort. */
    @Test
    void oneRankSumsThroughItsGpu() {
        assumeTrue(gpus() >= 1, "no GPU");
        RankGroups nccl = RankGroups.forDevices(List.of(Device.cuda(0)));
        byte[] id = nccl.newUniqueId();
        RankGroups.RankGroup rank = nccl.join(0, 1, id);
        float[] values = {1, -2, 3.5f, 1e-3f};
        assertArrayEquals(values, rank.allReduceSum(values.clone()));
        assertArrayEquals(new float[] {7}, rank.allReduceSum(new float[] {7}), "a smaller bucket in the same staging buffer");
        rank.abort();
        assertThrows(IllegalStateException.class, () -> rank.allReduceSum(values), "an aborted communicator sums no more");
        rank.close();
    }
}
