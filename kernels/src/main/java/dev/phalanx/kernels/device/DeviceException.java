package dev.phalanx.kernels.device;

/** A device call failed: the message names the call, the status and the shapes involved. */
public class DeviceException extends RuntimeException {
    public DeviceException(String message) {
        super(message);
    }

    public DeviceException(String message, Throwable cause) {
        super(message, cause);
    }
}
