package dev.phalanx.kernels.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.Tag;

import dev.phalanx.kernels.device.DeviceApi;
import dev.phalanx.kernels.device.DeviceContract;

/** The device contract that the simulated device passes in {@code mvn test}, unchanged, on cuda:0. Skipped without a GPU. */
@Tag("gpu")
class CudaDeviceContractGpuTest extends DeviceContract {
    @Override
    protected DeviceApi open() {
        CudaProbe.Report r = CudaProbe.probe();
        assumeTrue(r.available(), "no CUDA device: " + r.reason());
        return CudaDevice.open(0);
    }
}
