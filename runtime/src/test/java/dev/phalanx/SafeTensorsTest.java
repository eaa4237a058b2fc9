package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.phalanx.io.SafeTensors;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

class SafeTensorsTest {

    @TempDir
    Path dir;

    @Test
    void roundTripKeepsOrderDtypesShapesAndMetadata() throws IOException {
        Map<String, Tensor> t = new LinkedHashMap<>();
        t.put("conv1.weight", Tensor.randn(new Generator(1), 6, 1, 5, 5));
        t.put("labels", Tensor.ofLongs(3, 1, 4, 1));
        t.put("loss", Tensor.scalar(2.5f));
        Path f = dir.resolve("m.safetensors");
        SafeTensors.write(f, t, Map.of("format", "pt"));
        SafeTensors.Contents c = SafeTensors.read(f);
        assertEquals(t.keySet().toString(), c.tensors().keySet().toString());
        assertArrayEquals(t.get("conv1.weight").data(), c.tensors().get("conv1.weight").data());
        assertArrayEquals(new long[] {3, 1, 4, 1}, c.tensors().get("labels").longData());
        assertArrayEquals(new int[0], c.tensors().get("loss").shape());
        assertEquals("pt", c.metadata().get("format"));
        byte[] raw = Files.readAllBytes(f);
        long n = ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, n % 8, "the header is padded so that the data is 8-byte aligned");
        assertTrue(new String(raw, 8, (int) n, StandardCharsets.UTF_8).contains("\"conv1.weight\":{\"dtype\":\"F32\",\"shape\":[6,1,5,5]"));
    }

    @Test
    void readsTheGoldenFilesWrittenByPython() {
        Map<String, Tensor> g = dev.phalanx.testing.Golden.load("optim.safetensors");
        assertArrayEquals(new int[] {5, 10}, g.get("grads").shape());
    }

    @Test
    void corruptFilesAreExplained() throws IOException {
        Path f = dir.resolve("bad.safetensors");
        SafeTensors.write(f, Map.of("w", Tensor.ones(100)), Map.of());
        byte[] ok = Files.readAllBytes(f);
        Files.write(f, Arrays.copyOf(ok, ok.length - 10));
        String m = assertThrows(IllegalArgumentException.class, () -> SafeTensors.read(f)).getMessage();
        assertTrue(m.startsWith(f + ": not a valid safetensors file: tensor 'w': data_offsets [0, 400] lie outside the 390 data bytes"), m);
        Files.write(f, new byte[] {1, 2, 3});
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SafeTensors.read(f)).getMessage().contains("shorter than the 8-byte header"));
        byte[] junk = new byte[64];
        junk[0] = 20;
        Files.write(f, junk);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SafeTensors.read(f)).getMessage().contains("header is not valid JSON"));
        assertThrows(java.nio.file.NoSuchFileException.class, () -> SafeTensors.read(dir.resolve("missing.safetensors")));
    }
}
