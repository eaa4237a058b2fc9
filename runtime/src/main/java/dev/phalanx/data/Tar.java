package dev.phalanx.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.function.Predicate;

import org.apache.commons.compress.archivers.tar.TarArchiveEntry;
import org.apache.commons.compress.archivers.tar.TarArchiveInputStream;
import org.apache.commons.compress.compressors.gzip.GzipCompressorInputStream;

/**
 * Unpacks a .tar.gz (the CIFAR-10 archive) with Apache Commons Compress. Only regular files
 * are written, each to a temporary name first; an entry whose path would leave the target folder
 * is refused. Every fault, whatever the library reports, is an {@link IOException} naming the archive.
 */
public final class Tar {

    private Tar() { }

    /** Extracts regular files whose names pass {@code keep} from a .tar.gz into {@code dir}, refusing paths that escape it. */
    public static void extractGz(Path archive, Path dir, Predicate<String> keep) throws IOException {
        try (InputStream file = new BufferedInputStream(Files.newInputStream(archive), 1 << 16)) {
            extractGz(file, archive.toString(), dir, keep);
        }
    }

    /** The same from a stream; {@code archive} names it in errors. */
    public static void extractGz(InputStream file, String archive, Path dir, Predicate<String> keep) throws IOException {
        Path root = dir.toAbsolutePath().normalize();
        try (GzipCompressorInputStream gz = new GzipCompressorInputStream(file, true);
             TarArchiveInputStream tar = new TarArchiveInputStream(gz)) {
            boolean any = false;
            for (TarArchiveEntry e = tar.getNextEntry(); e != null; e = tar.getNextEntry()) {
                any = true;
                String name = e.getName();
                if (!e.isFile()) continue;
                Path out = root.resolve(name).normalize();
                if (!out.startsWith(root) || out.equals(root)) { // refused even when not kept: such an archive is not what it claims
                    throw new IOException(archive + ": entry '" + name + "' would be written outside " + root);
                }
                if (!keep.test(name)) continue;
                Files.createDirectories(out.getParent());
                Path tmp = out.resolveSibling("." + out.getFileName() + ".part");
                long copied;
                try (OutputStream os = Files.newOutputStream(tmp)) {
                    copied = tar.transferTo(os);
                } catch (IOException | RuntimeException ex) {
                    Files.deleteIfExists(tmp);
                    throw ex;
                }
                if (copied != e.getSize()) {
                    Files.deleteIfExists(tmp);
                    throw new IOException(archive + ": truncated tar archive inside '" + name + "' (" + copied + " of " + e.getSize() + " bytes)");
                }
                Files.move(tmp, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
            if (!any) throw new IOException(archive + ": not a tar archive, or an empty one");
        } catch (IOException e) {
            if (e.getMessage() != null && e.getMessage().startsWith(archive)) throw e;
            throw new IOException(archive + ": not a valid .tar.gz archive: " + oneLine(e), e);
        } catch (RuntimeException e) { // Commons Compress reports some malformed headers as unchecked exceptions
            throw new IOException(archive + ": not a valid .tar.gz archive: " + oneLine(e), e);
        }
    }

    private static String oneLine(Exception e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        int nl = m.indexOf('\n');
        return nl >= 0 ? m.substring(0, nl) : m;
    }
}
