package dev.phalanx.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import java.util.zip.GZIPOutputStream;

/** Files in the real formats (IDX, CIFAR-10 binary, tar.gz), written by the tests themselves. */
public final class TestFiles {

    private TestFiles() { }

    /** IDX bytes: magic 0x0000080N, dimensions, data. */
    public static byte[] idx(int[] dims, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + data.length);
        b.putInt(0x00000800 | dims.length);
        for (int d : dims) b.putInt(d);
        b.put(data);
        return b.array();
    }

    public static byte[] gzip(byte[] data) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(data);
        }
        return out.toByteArray();
    }

    /** A small MNIST-like set: {@code n} random 28x28 images, labels i % 10, gzipped as the real files are. */
    public static void writeIdxSet(Path dir, String prefix, int n, long seed) throws IOException {
        Random r = new Random(seed);
        byte[] pixels = new byte[n * 28 * 28];
        r.nextBytes(pixels);
        byte[] labels = new byte[n];
        for (int i = 0; i < n; i++) labels[i] = (byte) (i % 10);
        Files.createDirectories(dir);
        Files.write(dir.resolve(prefix + "-images-idx3-ubyte.gz"), gzip(idx(new int[] {n, 28, 28}, pixels)));
        Files.write(dir.resolve(prefix + "-labels-idx1-ubyte.gz"), gzip(idx(new int[] {n}, labels)));
    }

    /** CIFAR-10 binary records: label byte then 3072 pixel bytes. */
    public static byte[] cifarRecords(int n, long seed) {
        Random r = new Random(seed);
        byte[] out = new byte[n * 3073];
        for (int i = 0; i < n; i++) {
            byte[] px = new byte[3072];
            r.nextBytes(px);
            out[i * 3073] = (byte) (i % 10);
            System.arraycopy(px, 0, out, i * 3073 + 1, 3072);
        }
        return out;
    }

    /** A gzipped ustar archive of the given files. */
    public static byte[] tarGz(Map<String, byte[]> files) throws IOException {
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        for (var e : files.entrySet()) {
            byte[] h = new byte[512];
            put(h, 0, e.getKey());
            put(h, 100, "0000644");
            put(h, 108, "0000000");
            put(h, 116, "0000000");
            put(h, 124, String.format("%011o", e.getValue().length));
            put(h, 136, "00000000000");
            h[156] = '0';
            put(h, 257, "ustar");
            put(h, 263, "00");
            for (int i = 148; i < 156; i++) h[i] = ' ';
            long sum = 0;
            for (byte x : h) sum += x & 0xff;
            put(h, 148, String.format("%06o", sum));
            h[154] = 0;
            raw.write(h);
            raw.write(e.getValue());
            raw.write(new byte[(512 - e.getValue().length % 512) % 512]);
        }
        raw.write(new byte[1024]);
        return gzip(raw.toByteArray());
    }

    private static void put(byte[] h, int off, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(b, 0, h, off, b.length);
    }

    public static void write(Path file, byte[] bytes) throws IOException {
        Files.createDirectories(file.getParent());
        try (OutputStream o = Files.newOutputStream(file)) {
            o.write(bytes);
        }
    }
}
