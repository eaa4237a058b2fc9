package dev.phalanx.launcher;

import java.util.concurrent.Callable;

import dev.phalanx.kernels.cpu.CpuBackend;
import picocli.CommandLine.Command;

/** {@code phalanx devices}: what this machine offers. */
@Command(name = "devices", mixinStandardHelpOptions = true, description = "List the compute devices Phalanx can use here.")
final class DevicesCommand implements Callable<Integer> {

    @Override
    public Integer call() {
        System.out.println("cpu: " + Runtime.getRuntime().availableProcessors() + " cores; " + CpuBackend.create(1).describe());
        dev.phalanx.kernels.cuda.CudaProbe.describe(dev.phalanx.kernels.cuda.CudaProbe.probe()).forEach(System.out::println);
        if (dev.phalanx.kernels.cuda.CudaProbe.probe().available()) {
            System.out.println("note: training on these GPUs is not built yet (replicas run on the CPU)");
        }
        return 0;
    }
}
