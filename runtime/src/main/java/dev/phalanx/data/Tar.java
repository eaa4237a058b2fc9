package dev.phalanx.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.function.Predicate;
import java.util.zip.GZIPInputStream;

/** Just enough of tar (ustar, 512-byte blocks) to unpack the CIFAR-10 archive. */
public final class Tar {

    private Tar() { }

    /** Extracts regular files whose names pass {@code keep} from a .tar.gz into {@code dir}, refusing paths that escape it. */
    public static void extractGz(Path archive, Path dir, Predicate<String> keep) throws IOException {
        Path root = dir.toAbsolutePath().normalize();
        try (InputStream in = new BufferedInputStream(new GZIPInputStream(Files.newInputStream(archive), 1 << 16))) {
            byte[] header = new byte[512];
            while (true) {
                if (in.readNBytes(header, 0, 512) < 512) throw new IOException(archive + ": truncated tar archive");
                if (allZero(header)) return;
                String name = field(header, 0, 100);
                String prefix = field(header, 345, 155);
                if (!prefix.isEmpty()) name = prefix + "/" + name;
                long size = Long.parseLong(field(header, 124, 12).trim().isEmpty() ? "0" : field(header, 124, 12).trim(), 8);
                char type = (char) header[156];
                long padded = (size + 511) / 512 * 512;
                if ((type == '0' || type == 0) && keep.test(name)) {
                    Path out = root.resolve(name).normalize();
                    if (!out.startsWith(root)) throw new IOException(archive + ": entry '" + name + "' would be written outside " + root);
                    Files.createDirectories(out.getParent());
                    Path tmp = out.resolveSibling("." + out.getFileName() + ".part");
                    try (var os = Files.newOutputStream(tmp)) {
                        long left = size;
                        byte[] buf = new byte[1 << 16];
                        while (left > 0) {
                            int n = in.read(buf, 0, (int) Math.min(buf.length, left));
                            if (n < 0) throw new IOException(archive + ": truncated tar archive inside '" + name + "'");
                            os.write(buf, 0, n);
                            left -= n;
                        }
                    }
                    Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    in.skipNBytes(padded - size);
                } else {
                    in.skipNBytes(padded);
                }
            }
        }
    }

    private static String field(byte[] h, int off, int len) {
        int end = off;
        while (end < off + len && h[end] != 0) end++;
        return new String(h, off, end - off, StandardCharsets.US_ASCII);
    }

    private static boolean allZero(byte[] b) {
        for (byte x : b) if (x != 0) return false;
        return true;
    }
}
