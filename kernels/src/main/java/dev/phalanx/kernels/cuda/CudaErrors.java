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

    /** A driver API status, with the driver's name and description (CUDA_ERROR_NO_BINARY_FOR_GPU: no kernel image is available ...). */
    static void driver(int status, String call, String context) {
        if (status != 0) {
            throw new DeviceException(message(call, name(() -> {
                PointerPointer<BytePointer> p = new PointerPointer<>(1); // zeroed: stays NULL when the driver does not know the status
                return cudart.cuGetErrorName(status, p) == 0 ? p.get(BytePointer.class, 0) : null;
            }), status, context) + ": " + name(() -> {
                PointerPointer<BytePointer> p = new PointerPointer<>(1);
                return cudart.cuGetErrorString(status, p) == 0 ? p.get(BytePointer.class, 0) : null;
            }));
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
        if (status != 0) throw new DeviceException(message(call, nameOfNvrtcStatus(status), status, ""));
    }

    /** NVRTC's name for a status (NVRTC_ERROR_BUILTIN_OPERATION_FAILURE). */
    static String nameOfNvrtcStatus(int status) {
        return name(() -> nvrtc.nvrtcGetErrorString(status));
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
