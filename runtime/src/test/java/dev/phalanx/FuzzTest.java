package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.phalanx.data.Tar;
import dev.phalanx.io.SafeTensors;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.testing.TestFiles;

/**
 * Mutated safetensors files and tar archives, from a fixed seed, fed to the readers. Each one is
 * either read or refused with the reader's one documented exception (IllegalArgumentException
 * for safetensors, IOException for tar) and a one-line message naming the input; nothing hangs,
 * and no input makes a reader allocate much more than the input's own size.
 */
class FuzzTest {

    /** Per reader: 10,000 inputs in all. */
    private static final int CASES = 5_000;
    private static final long SEED = 20261129L;
    /** Fixed costs of one read (parser buffers, streams, the tensors' objects), whatever the input. */
    private static final long ALLOWANCE = 1 << 20;
    /** The first cases load and initialise classes (Jackson's, Commons Compress's), which counts as allocation: not measured. */
    private static final int WARM_UP = 500;

    @TempDir
    Path tmp;

    private static final com.sun.management.ThreadMXBean THREADS = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private static long allocated() {
        return THREADS.getThreadAllocatedBytes(Thread.currentThread().getId());
    }

    private static void checkOneLine(String source, Throwable e, String input) {
        String m = e.getMessage();
        if (m == null || !m.startsWith(source + ": ") || m.contains("\n")) {
            fail("case " + source + " (" + input + "): the message is not one line naming the input: " + m, e);
        }
    }

    @Test
    void mutatedSafetensorsAreReadOrRefusedInOneLine() {
        Map<String, Tensor> t = new LinkedHashMap<>();
        t.put("conv.weight", Tensor.full(0.5f, 2, 3, 3));
        t.put("conv.bias", Tensor.full(-1f, 2));
        t.put("steps", Tensor.ofLongs(7, 8));
        t.put("scalar", Tensor.scalar(3f));
        byte[] base = SafeTensors.serialize(t, Map.of("format", "pt"));
        Random r = new Random(SEED);
        int[] outcome = new int[2];
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (int i = 0; i < CASES; i++) {
                Mutated m = mutateSafetensors(base, r);
                String source = "st#" + i;
                long before = allocated();
                try {
                    SafeTensors.parse(m.bytes, source);
                    outcome[0]++;
                } catch (IllegalArgumentException e) {
                    checkOneLine(source, e, m.how);
                    outcome[1]++;
                } catch (Throwable e) {
                    fail("case " + source + " (" + m.how + ") threw " + e, e);
                }
                long used = allocated() - before;
                if (i >= WARM_UP && used > 2L * m.bytes.length + ALLOWANCE) fail("case " + source + " (" + m.how + ") allocated " + used + " bytes for a "
                        + m.bytes.length + "-byte file");
            }
        });
        assertTrue(outcome[0] > 100 && outcome[1] > 100, "both outcomes occur: read " + outcome[0] + ", refused " + outcome[1]);
    }

    @Test
    void mutatedTarArchivesAreUnpackedOrRefusedInOneLine() throws IOException {
        Map<String, byte[]> members = new LinkedHashMap<>();
        members.put("cifar-10-batches-bin/data_batch_1.bin", TestFiles.cifarRecords(1, 1));
        members.put("cifar-10-batches-bin/batches.meta.txt", "airplane\nautomobile\n".getBytes(StandardCharsets.UTF_8));
        members.put("cifar-10-batches-bin/readme.html", new byte[700]);
        byte[] tar = gunzip(TestFiles.tarGz(members));
        Random r = new Random(SEED);
        int[] outcome = new int[2];
        Path out = tmp.resolve("out");
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (int i = 0; i < CASES; i++) {
                Mutated m = mutateTar(tar, r);
                String source = "tar#" + i;
                Path target = out.resolve(Integer.toString(i % 16));
                long before = allocated();
                try {
                    boolean write = i % 10 == 0; // unpacking to disk is the slow part: every tenth archive
                    Tar.extractGz(new ByteArrayInputStream(m.bytes), source, target, name -> write && !name.endsWith(".html"));
                    outcome[0]++;
                } catch (IOException e) {
                    checkOneLine(source, e, m.how);
                    outcome[1]++;
                } catch (Throwable e) {
                    fail("case " + source + " (" + m.how + ") threw " + e, e);
                }
                long used = allocated() - before;
                if (i >= WARM_UP && used > 2L * m.plainSize + ALLOWANCE) fail("case " + source + " (" + m.how + ") allocated " + used + " bytes for a "
                        + m.plainSize + "-byte archive");
            }
        });
        try (var files = Files.walk(tmp)) {
            for (Path p : files.toList()) {
                assertTrue(p.equals(tmp) || p.startsWith(out), "nothing is written outside the target folder: " + p);
            }
        }
        assertTrue(outcome[0] > 100 && outcome[1] > 100, "both outcomes occur: unpacked " + outcome[0] + ", refused " + outcome[1]);
    }

    /** A mutated input, how it was made (for the failure message), and the size of its uncompressed content. */
    private record Mutated(byte[] bytes, String how, int plainSize) { }

    private static final String[] TOKENS = {"[", "]", "{", "}", "\"", ",", ":", "null", "-1", "1e308", "18446744073709551616",
        "2147483647", "9223372036854775807", "\"F32\"", "\"I64\"", "\"BF16\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"",
        "[".repeat(5000), "{\"a\":".repeat(2000), "\\u0000", "\"\\ud800\"", "\u00ff"};

    private static Mutated mutateSafetensors(byte[] base, Random r) {
        byte[] b = base.clone();
        int headerLength = (int) ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        int kind = r.nextInt(8);
        String how;
        switch (kind) {
            case 0 -> { // flip bits in the header
                int n = 1 + r.nextInt(4);
                for (int k = 0; k < n; k++) b[8 + r.nextInt(headerLength)] ^= (byte) (1 << r.nextInt(8));
                how = "flipped " + n + " header bits";
            }
            case 1 -> { // a number in the header replaced
                String h = new String(b, 8, headerLength, StandardCharsets.ISO_8859_1);
                int at = nthDigitRun(h, r);
                String num = new String[] {"0", "1", "4", "-1", "2147483647", "2147483648", "9223372036854775807", "1e308", "99999999999999999999",
                    "3.5", "1073741824"}[r.nextInt(11)];
                int end = at;
                while (end < h.length() && Character.isDigit(h.charAt(end))) end++;
                b = withHeader(b, headerLength, h.substring(0, at) + num + h.substring(end));
                how = "number at " + at + " -> " + num;
            }
            case 2 -> { // a token inserted
                String h = new String(b, 8, headerLength, StandardCharsets.ISO_8859_1);
                int at = r.nextInt(h.length() + 1);
                String tok = TOKENS[r.nextInt(TOKENS.length)];
                b = withHeader(b, headerLength, h.substring(0, at) + tok + h.substring(at));
                how = "inserted " + tok.substring(0, Math.min(10, tok.length())) + " at " + at;
            }
            case 3 -> { // a range of the header deleted
                String h = new String(b, 8, headerLength, StandardCharsets.ISO_8859_1);
                int from = r.nextInt(h.length()), to = Math.min(h.length(), from + 1 + r.nextInt(20));
                b = withHeader(b, headerLength, h.substring(0, from) + h.substring(to));
                how = "deleted [" + from + ", " + to + ")";
            }
            case 4 -> { // the header length changed
                long n = new long[] {0, 1, 7, headerLength - 8, headerLength + 8, b.length, Long.MAX_VALUE, -1, 1L << 40, r.nextInt(1 << 20)}[r.nextInt(10)];
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, n);
                how = "header length " + n;
            }
            case 5 -> { // truncated
                int n = r.nextInt(b.length);
                b = Arrays.copyOf(b, n);
                how = "truncated to " + n;
            }
            case 6 -> { // data bytes appended or the data changed
                if (r.nextBoolean()) {
                    b = Arrays.copyOf(b, b.length + 1 + r.nextInt(64));
                    how = "data appended";
                } else {
                    b[8 + headerLength + r.nextInt(b.length - 8 - headerLength)] ^= 0x40;
                    how = "data changed (still valid)";
                }
            }
            default -> { // several of the above
                Mutated m = mutateSafetensors(base, r);
                b = m.bytes;
                how = "untouched after " + m.how;
                if (b.length >= 8) {
                    b[r.nextInt(b.length)] = (byte) r.nextInt(256);
                    how = "a random byte after " + m.how;
                }
            }
        }
        return new Mutated(b, how, b.length);
    }

    private static int nthDigitRun(String h, Random r) {
        int runs = 0;
        for (int i = 0; i < h.length(); i++) if (Character.isDigit(h.charAt(i)) && (i == 0 || !Character.isDigit(h.charAt(i - 1)))) runs++;
        int pick = r.nextInt(Math.max(1, runs));
        for (int i = 0, n = 0; i < h.length(); i++) {
            if (Character.isDigit(h.charAt(i)) && (i == 0 || !Character.isDigit(h.charAt(i - 1))) && n++ == pick) return i;
        }
        return 0;
    }

    /** The file with its header text replaced and the length field set to match. */
    private static byte[] withHeader(byte[] file, int oldLength, String header) {
        byte[] h = header.getBytes(StandardCharsets.ISO_8859_1);
        ByteBuffer out = ByteBuffer.allocate(8 + h.length + file.length - 8 - oldLength).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(h.length).put(h).put(file, 8 + oldLength, file.length - 8 - oldLength);
        return out.array();
    }

    private static Mutated mutateTar(byte[] tar, Random r) throws IOException {
        byte[] b = tar.clone();
        String how;
        int headers = 3; // the members' header blocks are at 0, then after each member's data
        int[] headerAt = {0, 512 + 3584, 512 + 3584 + 512 + 512};
        int h = headerAt[r.nextInt(headers)];
        switch (r.nextInt(8)) {
            case 0 -> {
                int n = 1 + r.nextInt(4);
                for (int k = 0; k < n; k++) b[h + r.nextInt(512)] ^= (byte) (1 << r.nextInt(8));
                how = "flipped " + n + " bits in the header at " + h;
            }
            case 1 -> { // the size field
                String size = new String[] {"77777777777", "00000000000", "00000001000", "9999", "-1", "\0\0\0", "00000177777"}[r.nextInt(7)];
                Arrays.fill(b, h + 124, h + 136, (byte) 0);
                System.arraycopy(size.getBytes(StandardCharsets.US_ASCII), 0, b, h + 124, size.length());
                how = "size " + size.trim() + " at " + h;
            }
            case 2 -> { // the name: escapes, absolute paths, nothing
                String name = new String[] {"../../escape.bin", "/etc/escape.bin", "a/../../b.bin", "", ".", "a\0b.bin", "x/".repeat(40) + "deep.bin"}[r.nextInt(7)];
                Arrays.fill(b, h, h + 100, (byte) 0);
                byte[] n = name.getBytes(StandardCharsets.US_ASCII);
                System.arraycopy(n, 0, b, h, Math.min(100, n.length));
                how = "name '" + name + "' at " + h;
            }
            case 3 -> { // the type: links, long names, pax headers, unknown
                byte type = (byte) "0125LKxgS7\0Z".charAt(r.nextInt(12));
                b[h + 156] = type;
                how = "type '" + (char) type + "' at " + h;
            }
            case 4 -> { // the checksum
                Arrays.fill(b, h + 148, h + 156, (byte) r.nextInt(256));
                how = "checksum at " + h;
            }
            case 5 -> { // truncated
                int n = r.nextInt(b.length);
                b = Arrays.copyOf(b, n);
                how = "truncated to " + n;
            }
            case 6 -> { // random bytes anywhere
                int n = 1 + r.nextInt(16);
                for (int k = 0; k < n; k++) b[r.nextInt(b.length)] = (byte) r.nextInt(256);
                how = n + " random bytes";
            }
            default -> { // the gzip stream itself damaged
                byte[] gz = gzip(b);
                int n = 1 + r.nextInt(3);
                for (int k = 0; k < n; k++) gz[r.nextInt(gz.length)] ^= (byte) (1 << r.nextInt(8));
                return new Mutated(gz, n + " bits flipped in the gzip stream", b.length);
            }
        }
        return new Mutated(gzip(b), how, b.length);
    }

    private static byte[] gzip(byte[] b) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(b);
        }
        return out.toByteArray();
    }

    private static byte[] gunzip(byte[] b) throws IOException {
        try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(b))) {
            return in.readAllBytes();
        }
    }
}
