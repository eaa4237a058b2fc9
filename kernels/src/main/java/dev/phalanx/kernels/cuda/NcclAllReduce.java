package dev.phalanx.kernels.cuda;

import static org.bytedeco.cuda.global.nccl.ncclAllReduce;
import static org.bytedeco.cuda.global.nccl.ncclCommDestroy;
import static org.bytedeco.cuda.global.nccl.ncclCommInitAll;
import static org.bytedeco.cuda.global.nccl.ncclFloat32;
import static org.bytedeco.cuda.global.nccl.ncclGroupEnd;
import static org.bytedeco.cuda.global.nccl.ncclGroupStart;
import static org.bytedeco.cuda.global.nccl.ncclSum;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.PointerPointer;

import dev.phalanx.kernels.device.AllReduceGroup;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.Stream;

/**
 * The all-reduce of replicas on distinct GPUs of one process: one NCCL communicator per GPU from
 * {@code ncclCommInitAll}, and every replica's buffer reduced in place inside one NCCL group
 * (one thread may drive all GPUs that way without deadlock). NCCL refuses two ranks on one GPU:
 * replicas that share a GPU use {@link dev.phalanx.kernels.device.ReplicaOrderAllReduce}.
 */
public final class NcclAllReduce implements AllReduceGroup {

    private final List<CudaDevice> devices;
    private final List<ncclComm> comms = new ArrayList<>();

    public NcclAllReduce(List<CudaDevice> devices) {
        this.devices = List.copyOf(devices);
        int n = devices.size();
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = devices.get(i).index();
            for (int j = 0; j < i; j++) {
                if (ids[j] == ids[i]) throw new IllegalArgumentException("NCCL needs distinct GPUs, got cuda:" + ids[i] + " twice");
            }
        }
        try {
            Loader.load(org.bytedeco.cuda.global.nccl.class);
        } catch (UnsatisfiedLinkError e) {
            throw new CudaUnavailableException("NCCL (libnccl.so.2) did not load: " + e.getMessage() + "; install pip's nvidia-nccl-cu13");
        }
        PointerPointer<ncclComm> handles = new PointerPointer<>(n);
        CudaErrors.nccl(ncclCommInitAll(handles, n, ids), "ncclCommInitAll", n + " GPUs " + java.util.Arrays.toString(ids));
        for (int i = 0; i < n; i++) comms.add(new ncclComm(handles.get(i)));
    }

    @Override
    public int size() {
        return devices.size();
    }

    @Override
    public void allReduceSum(List<DeviceBuffer> buffers, List<Stream> streams) {
        int n = devices.size();
        if (buffers.size() != n || streams.size() != n) {
            throw new IllegalArgumentException("all-reduce over " + n + " GPUs got " + buffers.size() + " buffers and " + streams.size() + " streams");
        }
        long count = buffers.get(0).bytes() / Float.BYTES;
        for (int i = 0; i < n; i++) {
            buffers.get(i).checkOn(devices.get(i));
            if (buffers.get(i).bytes() != buffers.get(0).bytes()) throw new IllegalArgumentException("all-reduce buffers differ in size: " + buffers);
        }
        CudaErrors.nccl(ncclGroupStart(), "ncclGroupStart", "");
        RuntimeException failed = null;
        for (int i = 0; i < n && failed == null; i++) {
            CudaDevice d = devices.get(i);
            org.bytedeco.javacpp.Pointer p = CudaDevice.at(CudaLaunchArgs.address(buffers.get(i)));
            try {
                CudaErrors.nccl(ncclAllReduce(p, p, count, ncclFloat32, ncclSum, comms.get(i), d.nativeStream(streams.get(i))), "ncclAllReduce",
                        count + " floats on " + d.name());
            } catch (RuntimeException e) {
                failed = e;
            }
        }
        int end = ncclGroupEnd(); // always closes the group; the first error is the one reported
        if (failed != null) throw failed;
        CudaErrors.nccl(end, "ncclGroupEnd", count + " floats on " + n + " GPUs");
    }

    @Override
    public void close() {
        for (ncclComm c : comms) ncclCommDestroy(c);
        comms.clear();
    }
}
