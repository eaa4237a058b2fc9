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
        System.out.println("no CUDA device: this build of Phalanx has no CUDA backend yet");
        return 0;
    }
}
