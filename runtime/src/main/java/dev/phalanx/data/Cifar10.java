package dev.phalanx.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * CIFAR-10's binary version: {@code data_batch_1.bin} ... {@code data_batch_5.bin} and
 * {@code test_batch.bin}, each record one label byte and 3072 pixel bytes (1024 red, 1024
 * green, 1024 blue, row-major 32x32).
 */
public final class Cifar10 {

    public static final int RECORD = 1 + 3 * 32 * 32;
    public static final List<String> CLASSES = List.of("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck");
    public static final List<String> TRAIN_FILES = List.of("data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
            "data_batch_4.bin", "data_batch_5.bin");
    public static final List<String> TEST_FILES = List.of("test_batch.bin");

    private Cifar10() { }

    public static ImageDataset read(List<Path> files, Transform transform) throws IOException {
        List<byte[]> contents = new ArrayList<>();
        int records = 0;
        for (Path f : files) {
            byte[] b = Files.readAllBytes(f);
            if (b.length == 0 || b.length % RECORD != 0) {
                throw new IOException(f + ": short read: " + b.length + " bytes is not a whole number of " + RECORD
                        + "-byte CIFAR-10 records (truncated file?)");
            }
            for (int r = 0; r < b.length / RECORD; r++) {
                int label = b[r * RECORD] & 0xff;
                if (label > 9) throw new IOException(f + ": bad label " + label + " in record " + r + " (CIFAR-10 labels are 0..9): not a CIFAR-10 binary file");
            }
            contents.add(b);
            records += b.length / RECORD;
        }
        byte[] pixels = new byte[records * (RECORD - 1)];
        byte[] labels = new byte[records];
        int r = 0;
        for (byte[] b : contents) {
            for (int k = 0; k < b.length / RECORD; k++, r++) {
                labels[r] = b[k * RECORD];
                System.arraycopy(b, k * RECORD + 1, pixels, r * (RECORD - 1), RECORD - 1);
            }
        }
        return new ImageDataset(pixels, labels, 3, 32, 32, CLASSES, transform);
    }
}
