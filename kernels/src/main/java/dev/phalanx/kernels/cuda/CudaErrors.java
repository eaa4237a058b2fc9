package dev.phalanx.kernels.cuda;

import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.cuda.global.nccl;
import org.bytedeco.cuda.global.nvrtc;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;

import dev.phalanx.kernels.device.DeviceException;

/**
 * One status check per CUDA library. A failure becomes a {@link DeviceException} that names the
 * call, the library's name for the status, its number, and what the call was working on (shapes),
 * so that a failure on the GPU machine can be read from its first line.
 */
final class CudaErrors {

    private CudaErrors() { }

    static String message(String call, String status, int code, String context) {
        return call + " failed with " + status + " (" + code + ")" + (context == null || context.isEmpty() ? "" : " for " + context);
    }

    static void runtime(int status, String call) {
        runtime(status, call, "");
    }

    static void runtime(int status, String call, String context) {
        if (status != 0) {
            throw new DeviceException(message(call, name(() -> cudart.cudaGetErrorName(status)), status, context)
                    + ": " + name(() -> cudart.cudaGetErrorString(status)));
        }
    }

    static void driver(int status, String call, String context) {
        if (status != 0) {
            throw new DeviceException(message(call, name(() -> {
                PointerPointer<BytePointer> p = new PointerPointer<>(1);
                cudart.cuGetErrorName(status, p);
                return p.get(BytePointer.class, 0);
            }), status, context));
        }
    }

    static void cublas(int status, String call, String context) {
        if (status != 0) throw new DeviceException(message(call, name(() -> cublas.cublasGetStatusString(status)), status, context));
    }

    static void cudnn(int status, String call, String context) {
        if (status != 0) throw new DeviceException(message(call, name(() -> cudnn.cudnnGetErrorString(status)), status, context));
    }

    static void nccl(int status, String call, String context) {
        if (status != 0) throw new DeviceException(message(call, name(() -> nccl.ncclGetErrorString(status)), status, context));
    }

    static void nvrtc(int status, String call) {
        if (status != 0) throw new DeviceException(message(call, name(() -> nvrtc.nvrtcGetErrorString(status)), status, ""));
    }

    private interface Lookup {
        BytePointer get();
    }

    private static String name(Lookup l) {
        try {
            BytePointer p = l.get();
            return p == null || p.isNull() ? "an unknown status" : p.getString();
        } catch (RuntimeException | UnsatisfiedLinkError e) {
            return "an unknown status";
        }
    }
}
