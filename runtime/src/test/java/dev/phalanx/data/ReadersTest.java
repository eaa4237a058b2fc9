package dev.phalanx.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.phalanx.testing.TestFiles;

/** IDX and CIFAR-10 files in their real formats, good and bad. */
class ReadersTest {

    @TempDir
    Path dir;

    @Test
    void idxGzippedOrPlain() throws IOException {
        byte[] data = {1, 2, 3, 4, 5, 6};
        Path plain = dir.resolve("a-idx3-ubyte"), gz = dir.resolve("a-idx3-ubyte.gz");
        Files.write(plain, TestFiles.idx(new int[] {1, 2, 3}, data));
        Files.write(gz, TestFiles.gzip(TestFiles.idx(new int[] {1, 2, 3}, data)));
        for (Path p : List.of(plain, gz)) {
            Idx.Array a = Idx.read(p);
            assertArrayEquals(new int[] {1, 2, 3}, a.dims());
            assertArrayEquals(data, a.data());
        }
    }

    @Test
    void badMagicNamesTheFile() throws IOException {
        Path f = dir.resolve("x.gz");
        Files.write(f, TestFiles.gzip(new byte[] {0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0}));
        IOException e = assertThrows(IOException.class, () -> Idx.read(f));
        assertEquals(f + ": bad magic 0x12345678: not an IDX file of unsigned bytes (expected 0x00000803 for images or 0x00000801 for labels)",
                e.getMessage());
    }

    @Test
    void truncatedDataIsAShortRead() throws IOException {
        byte[] full = TestFiles.idx(new int[] {10, 28, 28}, new byte[10 * 784]);
        Path f = dir.resolve("t.gz");
        Files.write(f, TestFiles.gzip(Arrays.copyOf(full, full.length - 100)));
        IOException e = assertThrows(IOException.class, () -> Idx.read(f));
        assertTrue(e.getMessage().startsWith(f + ": short read: expected 7840 bytes of data for dimensions [10, 28, 28], got 7740"), e.getMessage());
    }

    @Test
    void aCutGzipStreamIsReportedAsCorrupt() throws IOException {
        byte[] gz = TestFiles.gzip(TestFiles.idx(new int[] {100, 28, 28}, new byte[100 * 784]));
        Path f = dir.resolve("cut.gz");
        Files.write(f, Arrays.copyOf(gz, gz.length / 2));
        IOException e = assertThrows(IOException.class, () -> Idx.read(f));
        assertTrue(e.getMessage().startsWith(f.toString()) && (e.getMessage().contains("corrupt gzip") || e.getMessage().contains("short read")),
                e.getMessage());
    }

    @Test
    void cifarRecords() throws IOException {
        Path f = dir.resolve("data_batch_1.bin");
        byte[] records = TestFiles.cifarRecords(12, 3);
        Files.write(f, records);
        ImageDataset d = Cifar10.read(List.of(f), null);
        assertEquals(12, d.size());
        assertArrayEquals(new int[] {3, 32, 32}, d.get(5).input().shape());
        assertEquals(5, d.get(5).label());
        assertEquals(records[5 * 3073 + 1] & 0xff, (int) d.get(5).input().get(0, 0, 0)); // red plane first
        assertEquals(records[5 * 3073 + 1 + 1024] & 0xff, (int) d.get(5).input().get(1, 0, 0));
        assertEquals("plane", d.classes().get(0));
    }

    @Test
    void truncatedCifarFileIsAShortRead() throws IOException {
        Path f = dir.resolve("test_batch.bin");
        Files.write(f, Arrays.copyOf(TestFiles.cifarRecords(3, 1), 3 * 3073 - 10));
        IOException e = assertThrows(IOException.class, () -> Cifar10.read(List.of(f), null));
        assertEquals(f + ": short read: 9209 bytes is not a whole number of 3073-byte CIFAR-10 records (truncated file?)", e.getMessage());
    }

    @Test
    void aFileThatIsNotCifarIsCaughtByItsLabels() throws IOException {
        Path f = dir.resolve("data_batch_2.bin");
        byte[] b = TestFiles.cifarRecords(2, 1);
        b[3073] = 42;
        Files.write(f, b);
        IOException e = assertThrows(IOException.class, () -> Cifar10.read(List.of(f), null));
        assertTrue(e.getMessage().contains("bad label 42 in record 1"), e.getMessage());
    }

    @Test
    void theEmbeddedFashionMnistSampleIsReal() throws IOException {
        ImageDataset train = DataSets.loadSample(true, Transform.toTensor()), test = DataSets.loadSample(false, null);
        assertEquals(3000, train.size());
        assertEquals(1000, test.size());
        assertEquals("Ankle boot", train.classes().get(9));
        assertEquals(9, train.label(0)); // the first Fashion-MNIST training image is an ankle boot
        float max = 0;
        for (float v : train.get(0).input().data()) max = Math.max(max, v);
        assertTrue(max > 0.5f && max <= 1f, "ToTensor scales to [0, 1]: " + max);
    }

    @Test
    void aBadLabelIsReportedAgainstTheLabelsFile() throws IOException {
        dev.phalanx.testing.TestFiles.writeIdxSet(dir, "train", 5, 1);
        dev.phalanx.testing.TestFiles.writeIdxSet(dir, "t10k", 5, 2);
        Path labels = dir.resolve("train-labels-idx1-ubyte.gz");
        Files.write(labels, TestFiles.gzip(TestFiles.idx(new int[] {5}, new byte[] {1, 2, 12, 3, 4})));
        IOException e = assertThrows(IOException.class, () -> DataSets.load(DataSets.FASHION_MNIST, dir, true, null));
        assertEquals(labels + ": bad label 12 at 2 (10 classes, labels 0..9)", e.getMessage());
    }

    @Test
    void tarEntriesThatWouldLeaveTheTargetFolderAreRefused() throws IOException {
        Path archive = dir.resolve("evil.tar.gz");
        Files.write(archive, TestFiles.tarGz(java.util.Map.of("../outside.bin", new byte[] {1, 2, 3})));
        Path target = dir.resolve("unpacked");
        IOException e = assertThrows(IOException.class, () -> Tar.extractGz(archive, target, n -> true));
        assertEquals(archive + ": entry '../outside.bin' would be written outside " + target.toAbsolutePath(), e.getMessage());
        assertTrue(!Files.exists(dir.resolve("outside.bin")));
    }

    @Test
    void tarUnpacksRegularFilesAndNamesABrokenArchive() throws IOException {
        java.util.Map<String, byte[]> members = new java.util.LinkedHashMap<>();
        members.put("d/a.bin", new byte[] {1, 2, 3});
        members.put("d/b.txt", "hello".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        byte[] gz = TestFiles.tarGz(members);
        Path archive = dir.resolve("ok.tar.gz");
        Files.write(archive, gz);
        Tar.extractGz(archive, dir.resolve("out"), n -> n.endsWith(".bin"));
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(dir.resolve("out/d/a.bin")));
        assertTrue(!Files.exists(dir.resolve("out/d/b.txt")), "filtered out");
        Files.write(archive, Arrays.copyOf(gz, gz.length / 2));
        IOException e = assertThrows(IOException.class, () -> Tar.extractGz(archive, dir.resolve("out2"), n -> true));
        assertTrue(e.getMessage().startsWith(archive + ": "), e.getMessage());
        Files.write(archive, "not gzip at all".getBytes(java.nio.charset.StandardCharsets.UTF_8));
        e = assertThrows(IOException.class, () -> Tar.extractGz(archive, dir.resolve("out3"), n -> true));
        assertTrue(e.getMessage().startsWith(archive + ": not a valid .tar.gz archive: "), e.getMessage());
    }
}
