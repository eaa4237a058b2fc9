package dev.phalanx.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * On a machine with an NVIDIA GPU (its device node exists), discovery must find it: name,
 * memory, compute capability, and the driver and runtime versions. Skipped, with the reason,
 * on machines without one.
 */
@Tag("gpu")
class CudaProbeGpuTest {

    @Test
    void findsTheGpuThisMachineHas() {
        assumeTrue(Files.exists(Path.of("/dev/nvidia0")), "no NVIDIA GPU on this machine (/dev/nvidia0 is absent)");
        CudaProbe.Report r = CudaProbe.probe();
        assertTrue(r.available(), "a GPU is present but discovery says: " + r.reason());
        CudaProbe.Gpu g = r.gpus().get(0);
        assertFalse(g.name().isBlank());
        assertTrue(g.memoryBytes() > 1L << 30 && g.major() >= 7, g.toString());
        assertTrue(r.versions().get("driver").matches("\\d+\\.\\d+"), r.versions().toString());
        assertTrue(r.versions().get("runtime").startsWith("13."), r.versions().toString());
    }
}
