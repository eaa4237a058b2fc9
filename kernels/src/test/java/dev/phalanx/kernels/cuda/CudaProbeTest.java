package dev.phalanx.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

/** Probing never throws: it finds GPUs, or says in one line why there are none. */
class CudaProbeTest {

    @Test
    void probingAMachineGivesGpusOrOneReason() {
        CudaProbe.Report r = CudaProbe.probe();
        List<String> lines = CudaProbe.describe(r);
        if (r.available()) {
            assertTrue(lines.get(0).startsWith("cuda:0: "), lines.toString());
        } else {
            assertTrue(lines.size() == 1 && lines.get(0).startsWith("no CUDA device: ") && !r.reason().isBlank(), lines.toString());
            if (r.libraries().get("driver") == null) { // one short reason, not the loader's list of folders
                assertEquals("no CUDA device: the NVIDIA driver (libcuda.so.1) is not installed", lines.get(0));
            }
        }
    }

    @Test
    void theSearchPathHoldsOnlyFoldersThatExist() {
        for (var p : CudaLibraries.searchPath()) assertTrue(java.nio.file.Files.isDirectory(p), p.toString());
        assertFalse(CudaLibraries.locate(List.of()).containsValue(java.nio.file.Path.of("/")));
    }
}
