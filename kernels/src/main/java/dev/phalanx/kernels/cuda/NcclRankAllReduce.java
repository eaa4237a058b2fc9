package dev.phalanx.kernels.cuda;

import static org.bytedeco.cuda.global.nccl.NCCL_UNIQUE_ID_BYTES;
import static org.bytedeco.cuda.global.nccl.ncclAllReduce;
import static org.bytedeco.cuda.global.nccl.ncclCommAbort;
import static org.bytedeco.cuda.global.nccl.ncclCommDestroy;
import static org.bytedeco.cuda.global.nccl.ncclCommInitRank;
import static org.bytedeco.cuda.global.nccl.ncclFloat32;
import static org.bytedeco.cuda.global.nccl.ncclGetUniqueId;
import static org.bytedeco.cuda.global.nccl.ncclSum;

import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.PointerPointer;

import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.Stream;

/**
 * One rank of an all-reduce across processes and machines, one GPU per rank (issue #10's "NCCL
 * across machines"): rank 0 makes a unique id ({@link #newUniqueId}), the cluster hands its
 * {@value #UNIQUE_ID_BYTES} bytes to every node (a cluster message: small, unlike gradients), and
 * each node joins the communicator with {@code ncclCommInitRank}. NCCL then moves the gradient
 * buckets over its own transports (NVLink, InfiniBand, sockets), never through the cluster.
 *
 * <p>Status: written against the JavaCPP 1.5.13 NCCL binding and checked there (signatures,
 * the unique id's size); never run with more than one rank, since no session has had several
 * GPUs. The cluster job uses it through the runtime's {@code NcclRankGroups} when its nodes
 * compute on GPUs. {@code CudaSmokeGpuTest} runs a one-rank communicator on a single GPU, which
 * exercises every call here but {@link #abort}.
 */
public final class NcclRankAllReduce implements AutoCloseable {

    /** The size of NCCL's {@code ncclUniqueId} ({@code NCCL_UNIQUE_ID_BYTES}). */
    public static final int UNIQUE_ID_BYTES = 128;

    private final CudaDevice device;
    private final int rank, ranks;
    private volatile ncclComm comm; // null once closed or aborted

    private static void loadNccl() {
        try {
            Loader.load(org.bytedeco.cuda.global.nccl.class);
        } catch (UnsatisfiedLinkError e) {
            throw new CudaUnavailableException("NCCL (libnccl.so.2) did not load: " + e.getMessage() + "; install pip's nvidia-nccl-cu13");
        }
        if (NCCL_UNIQUE_ID_BYTES != UNIQUE_ID_BYTES) {
            throw new IllegalStateException("this NCCL binding's unique id has " + NCCL_UNIQUE_ID_BYTES + " bytes, Phalanx expects " + UNIQUE_ID_BYTES);
        }
    }

    /** Rank 0's new communicator id, as bytes to send to the other ranks. */
    public static byte[] newUniqueId() {
        loadNccl();
        ncclUniqueId id = new ncclUniqueId();
        CudaErrors.nccl(ncclGetUniqueId(id), "ncclGetUniqueId", "");
        byte[] bytes = new byte[UNIQUE_ID_BYTES];
        for (int i = 0; i < bytes.length; i++) bytes[i] = id.internal(i);
        return bytes;
    }

    /** Checks what a node received before NCCL sees it: a wrong id would hang every rank in ncclCommInitRank. */
    static void checkArguments(int rank, int ranks, byte[] uniqueId) {
        if (ranks < 1 || rank < 0 || rank >= ranks) throw new IllegalArgumentException("NCCL rank " + rank + " of " + ranks + " is not a rank");
        if (uniqueId == null || uniqueId.length != UNIQUE_ID_BYTES) {
            throw new IllegalArgumentException("an NCCL unique id has " + UNIQUE_ID_BYTES + " bytes, got "
                    + (uniqueId == null ? "none" : uniqueId.length) + " (it comes from rank 0's newUniqueId)");
        }
    }

    /** Joins the communicator of {@code ranks} ranks as {@code rank}; every rank must call it (NCCL blocks until all have). */
    public NcclRankAllReduce(CudaDevice device, int rank, int ranks, byte[] uniqueId) {
        checkArguments(rank, ranks, uniqueId);
        loadNccl();
        this.device = device;
        this.rank = rank;
        this.ranks = ranks;
        ncclUniqueId id = new ncclUniqueId();
        for (int i = 0; i < UNIQUE_ID_BYTES; i++) id.internal(i, uniqueId[i]);
        PointerPointer<ncclComm> handle = new PointerPointer<>(1);
        device.bind(); // the communicator belongs to the GPU current on this thread
        CudaErrors.nccl(ncclCommInitRank(handle, ranks, id, rank), "ncclCommInitRank", "rank " + rank + " of " + ranks + " on " + device.name());
        comm = new ncclComm(handle.get(0));
    }

    public int rank() {
        return rank;
    }

    public int ranks() {
        return ranks;
    }

    /** Sums {@code buffer} (float32) over every rank, in place, enqueued on {@code stream}. */
    public void allReduceSum(DeviceBuffer buffer, Stream stream) {
        ncclComm c = comm;
        if (c == null) throw new IllegalStateException("this NCCL communicator is closed (or was aborted: a rank was lost)");
        buffer.checkOn(device);
        long count = buffer.bytes() / Float.BYTES;
        org.bytedeco.javacpp.Pointer p = CudaDevice.at(CudaLaunchArgs.address(buffer));
        device.bind(); // the calling thread (the cluster's all-reduce thread) may not have this GPU current
        CudaErrors.nccl(ncclAllReduce(p, p, count, ncclFloat32, ncclSum, c, device.nativeStream(stream)), "ncclAllReduce",
                count + " floats, rank " + rank + " of " + ranks + " on " + device.name());
    }

    /**
     * A rank was lost: frees the communicator and ends the operations still running on the GPU
     * ({@code ncclCommAbort}), so that a thread waiting for a sum that will not come is let go.
     * Callable from any thread; the communicator is unusable afterwards.
     */
    public synchronized void abort() {
        ncclComm c = comm;
        comm = null;
        if (c != null) ncclCommAbort(c);
    }

    @Override
    public synchronized void close() {
        ncclComm c = comm;
        comm = null;
        if (c != null) ncclCommDestroy(c);
    }
}
