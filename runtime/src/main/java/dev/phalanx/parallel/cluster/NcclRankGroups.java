package dev.phalanx.parallel.cluster;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContexts;
import dev.phalanx.kernels.cuda.CudaDevice;
import dev.phalanx.kernels.cuda.NcclRankAllReduce;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.DeviceTransfers;
import dev.phalanx.kernels.device.Stream;

/**
 * {@link RankGroups} over NCCL, one rank per node on the GPU of the node's first replica
 * ({@link NcclRankAllReduce}: {@code ncclGetUniqueId}, {@code ncclCommInitRank},
 * {@code ncclAllReduce}, {@code ncclCommAbort}). The node's replicas have summed their buckets
 * on the host already ({@link ClusterAllReduce}); each sum is copied to the GPU, reduced there by
 * NCCL over its own transports (NVLink, InfiniBand, sockets), and copied back, on a stream of its
 * own. Nothing here touches CUDA until a communicator is made.
 *
 * <p>Status: written, never run across machines (no session has had two GPUs; NCCL refuses two
 * ranks on one GPU). {@code NcclClusterGpuTest} runs it as one rank where a GPU is present.
 */
final class NcclRankGroups implements RankGroups {

    private final Device device;

    NcclRankGroups(Device device) {
        if (!device.isCuda()) throw new IllegalArgumentException("NCCL runs on cuda devices, got " + device);
        this.device = device;
    }

    Device device() {
        return device;
    }

    @Override
    public byte[] newUniqueId() {
        return NcclRankAllReduce.newUniqueId();
    }

    @Override
    public RankGroup join(int rank, int ranks, byte[] uniqueId) {
        CudaDevice gpu = (CudaDevice) DeviceContexts.of(device).api();
        return new Staged(gpu, new NcclRankAllReduce(gpu, rank, ranks, uniqueId));
    }

    @Override
    public String describe() {
        return "NCCL on " + device;
    }

    /** One rank: host values through a device buffer kept for the communicator's life (grown to the largest bucket). */
    private static final class Staged implements RankGroup {
        private final CudaDevice gpu;
        private final NcclRankAllReduce comm;
        private final Stream stream;
        private DeviceBuffer buffer;

        Staged(CudaDevice gpu, NcclRankAllReduce comm) {
            this.gpu = gpu;
            this.comm = comm;
            this.stream = gpu.newStream();
        }

        @Override
        public synchronized float[] allReduceSum(float[] values) {
            long bytes = (long) values.length * Float.BYTES;
            if (buffer == null || buffer.bytes() < bytes) {
                if (buffer != null) gpu.free(buffer);
                buffer = gpu.malloc(bytes);
            }
            DeviceBuffer b = buffer.slice(0, bytes);
            DeviceTransfers.upload(gpu, stream, values, b);
            comm.allReduceSum(b, stream);
            return DeviceTransfers.download(gpu, stream, b, values.length); // waits for the stream: NCCL's sum is done
        }

        @Override
        public void abort() {
            comm.abort(); // not synchronized: it wakes a sum that waits for a lost rank
        }

        @Override
        public synchronized void close() {
            comm.close();
            if (buffer != null) gpu.free(buffer);
            buffer = null;
            stream.close();
        }
    }
}
