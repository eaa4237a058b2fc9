package dev.phalanx.kernels.cuda;

import dev.phalanx.kernels.device.DeviceException;

/** No usable CUDA device: the message is the one line {@code no CUDA device: <reason>}. */
public final class CudaUnavailableException extends DeviceException {

    private final String reason;

    public CudaUnavailableException(String reason) {
        super("no CUDA device: " + reason);
        this.reason = reason;
    }

    public String reason() {
        return reason;
    }
}
