package dev.phalanx.kernels.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.cuda.CudaKernelSources;

/** Kernel signatures come from the .cu sources, and the sources assemble into one unit for NVRTC. */
class KernelCatalogTest {

    @Test
    void signaturesAreReadFromTheSources() {
        KernelSignature adam = KernelCatalog.standard().signature("adam_step");
        assertEquals("optimizers.cu", adam.file());
        assertEquals(12, adam.params().size());
        assertEquals(KernelSignature.Type.POINTER, adam.params().get(0).type());
        assertEquals(KernelSignature.Type.INT64, adam.params().get(4).type());
        assertEquals("lr_at", adam.params().get(5).name()); // the learning rate and the step count in device memory
        assertEquals(KernelSignature.Type.POINTER, adam.params().get(5).type());
        assertEquals(KernelSignature.Type.POINTER, adam.params().get(6).type());
        assertEquals(KernelSignature.Type.FLOAT32, adam.params().get(7).type());
        assertEquals("decoupled", adam.params().get(11).name());
        assertEquals(KernelSignature.Type.INT32, adam.params().get(11).type());
        assertTrue(KernelCatalog.standard().all().size() >= 20);
    }

    @Test
    void theAssembledUnitHoldsEveryFileWithLineMarkers() {
        String src = KernelCatalog.standard().assembledSource();
        assertTrue(src.startsWith(KernelCatalog.PRELUDE));
        for (String f : CudaKernelSources.FILES) assertTrue(src.contains("#line 1 \"" + f + "\"\n"), f);
    }

    @Test
    void aKernelDefinedTwiceOrWithAnUnsupportedParameterIsRejected() {
        String k = "extern \"C\" __global__ void twice(float* x, long long n) { }\n";
        Map<String, String> files = new LinkedHashMap<>();
        files.put("a.cu", k);
        files.put("b.cu", k);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> new KernelCatalog(files));
        assertTrue(e.getMessage().contains("twice is defined in both a.cu and b.cu"), e.getMessage());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                () -> KernelSignature.parse("c.cu", "extern \"C\" __global__ void odd(short x) { }"));
        assertTrue(bad.getMessage().contains("c.cu: kernel odd") && bad.getMessage().contains("short x"), bad.getMessage());
        assertEquals(List.of(), KernelSignature.parse("d.cu", "__device__ float helper(float x) { return x; }"));
    }
}
