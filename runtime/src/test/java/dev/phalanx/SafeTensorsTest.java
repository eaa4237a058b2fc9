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

    /** A file with this header (padded to 8 bytes) and {@code data} zero bytes of tensor data. */
    static byte[] file(String header, int data) {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + data).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(h);
        for (int i = h.length; i < padded; i++) b.put((byte) ' ');
        return b.array();
    }

    private static String refusal(String header, int data) {
        return assertThrows(IllegalArgumentException.class, () -> SafeTensors.parse(file(header, data), "x.safetensors")).getMessage();
    }

    @Test
    void theOffsetsMustCoverTheDataExactly() {
        String a = "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}";
        assertEquals(1, SafeTensors.parse(file("{" + a + "}", 8), "ok").tensors().size());
        assertEquals("x.safetensors: not a valid safetensors file: tensors 'a' [0, 8) and 'b' [4, 12) overlap in the data",
                refusal("{" + a + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12));
        assertEquals("x.safetensors: not a valid safetensors file: bytes [8, 12) of the data belong to no tensor (a gap before 'b')",
                refusal("{" + a + ",\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[12,20]}}", 20));
        assertEquals("x.safetensors: not a valid safetensors file: bytes [8, 16) at the end of the data belong to no tensor",
                refusal("{" + a + "}", 16));
        assertTrue(refusal("{" + a + "," + a + "}", 8).contains("Duplicate field 'a'"), "a name given twice");
    }

    @Test
    void aDeeplyNestedHeaderIsOneLineNotAStackOverflow() {
        String deep = "[".repeat(200_000);
        String m = refusal(deep, 0);
        assertTrue(m.startsWith("x.safetensors: not a valid safetensors file: "), m);
        String nested = "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4],\"x\":" + deep + "}}";
        m = refusal(nested, 4);
        assertTrue(m.contains("header is not valid JSON") && m.contains("nesting depth"), m);
        assertTrue(!m.contains("\n"), m);
    }

    @Test
    void aShapeLargerThanAnyFileIsRefusedBeforeAllocating() {
        String m = refusal("{\"a\":{\"dtype\":\"F32\",\"shape\":[2147483647,2147483647,2147483647],\"data_offsets\":[0,4]}}", 4);
        assertTrue(m.contains("has more elements than a file of"), m);
        m = refusal("{\"a\":{\"dtype\":\"F32\",\"shape\":[" + "1,".repeat(40) + "1],\"data_offsets\":[0,4]}}", 4);
        assertTrue(m.contains("'shape' has more than 32 values"), m);
        m = refusal("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999999],\"data_offsets\":[0,4]}}", 4);
        assertTrue(m.contains("not a non-negative integer"), m);
    }

    @Test
    void aFileOf3GbIsOneLineNotAnOutOfMemoryError() throws IOException {
        Path f = dir.resolve("huge.safetensors");
        try (java.io.RandomAccessFile r = new java.io.RandomAccessFile(f.toFile(), "rw")) {
            r.setLength(3L << 30); // sparse: no disk is used
        }
        String m = assertThrows(IllegalArgumentException.class, () -> SafeTensors.read(f)).getMessage();
        assertEquals(f + ": not a valid safetensors file: the file is 3,221,225,472 bytes; Phalanx reads safetensors files of up to "
                + "2,147,483,639 bytes (2 GiB): split the weights into several files", m);
    }
}
