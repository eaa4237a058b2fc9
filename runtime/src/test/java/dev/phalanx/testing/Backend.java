package dev.phalanx.testing;

import java.util.stream.Stream;

import dev.phalanx.kernels.cpu.CpuBackend;

/** The CPU backends every golden test runs on: pure Java and native, one and two threads. */
public final class Backend {

    private Backend() { }

    public static Stream<CpuBackend> all() {
        return Stream.of(
                CpuBackend.create(1, CpuBackend.Kernels.JAVA),
                CpuBackend.create(2, CpuBackend.Kernels.JAVA),
                CpuBackend.create(1, CpuBackend.Kernels.AUTO),
                CpuBackend.create(2, CpuBackend.Kernels.AUTO));
    }
}
