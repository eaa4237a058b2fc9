package dev.phalanx.kernels.device;

/** The device contract on the simulated device, with random delays on every stream. */
class SimulatedDeviceContractTest extends DeviceContract {
    @Override
    protected DeviceApi open() {
        return new SimulatedDevice(0, SimulatedDevice.Options.defaults().withDelay(50));
    }
}
