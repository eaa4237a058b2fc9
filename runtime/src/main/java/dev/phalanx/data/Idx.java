package dev.phalanx.data;

import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * The IDX format of MNIST and Fashion-MNIST, gzipped or not: two zero bytes, a type byte
 * (0x08: unsigned bytes), the number of dimensions, each dimension as a big-endian int32,
 * then the data. Errors name the file and what was wrong.
 */
public final class Idx {

    /** The dimensions and the raw bytes. */
    public record Array(int[] dims, byte[] data) { }

    private Idx() { }

    public static Array read(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return read(in, file.toString());
        }
    }

    public static Array read(InputStream raw, String source) throws IOException {
        BufferedInputStream buffered = new BufferedInputStream(raw, 1 << 16);
        buffered.mark(2);
        int b0 = buffered.read(), b1 = buffered.read();
        buffered.reset();
        InputStream in = b0 == 0x1f && b1 == 0x8b ? new GZIPInputStream(buffered, 1 << 16) : buffered;
        try {
            DataInputStream data = new DataInputStream(in);
            int magic;
            try {
                magic = data.readInt();
            } catch (EOFException e) {
                throw new IOException(source + ": short read: the file ends before its 4-byte IDX magic number");
            }
            int type = (magic >>> 8) & 0xff, rank = magic & 0xff;
            if ((magic >>> 16) != 0 || type != 0x08 || rank < 1 || rank > 4) {
                throw new IOException(String.format("%s: bad magic 0x%08x: not an IDX file of unsigned bytes "
                        + "(expected 0x00000803 for images or 0x00000801 for labels)", source, magic));
            }
            int[] dims = new int[rank];
            long total = 1;
            for (int i = 0; i < rank; i++) {
                try {
                    dims[i] = data.readInt();
                } catch (EOFException e) {
                    throw new IOException(source + ": short read: the header ends after " + i + " of " + rank + " dimensions");
                }
                if (dims[i] < 0) throw new IOException(source + ": bad header: dimension " + i + " is " + dims[i]);
                total *= dims[i];
            }
            if (total > Integer.MAX_VALUE - 8) throw new IOException(source + ": bad header: " + total + " bytes of data is too many");
            byte[] bytes = data.readNBytes((int) total);
            if (bytes.length < total) {
                throw new IOException(source + ": short read: expected " + total + " bytes of data for dimensions "
                        + java.util.Arrays.toString(dims) + ", got " + bytes.length + " (truncated file?)");
            }
            return new Array(dims, bytes);
        } catch (ZipException | EOFException e) {
            throw new IOException(source + ": corrupt gzip stream (" + e.getMessage() + "); download the file again", e);
        }
    }
}
