package dev.phalanx.data;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Locale;

/**
 * Fetches a data set's files over HTTP(S) into a folder, each to a temporary file first,
 * verified against its SHA-256 before it takes the real name: an interrupted or corrupted
 * download never looks like a good file. Archives (CIFAR-10) are unpacked after verification.
 */
public final class Downloader {

    private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL)
            .connectTimeout(Duration.ofSeconds(30)).build();
    private final PrintStream log;

    public Downloader(PrintStream log) {
        this.log = log;
    }

    /** Downloads what is missing of {@code info} into {@code dir}; returns the folder holding the files. */
    public Path fetch(DataSets.Info info, Path dir) throws IOException {
        Files.createDirectories(dir);
        Path dataDir = info.subdir().isEmpty() ? dir : dir.resolve(info.subdir());
        if (DataSets.complete(info, dataDir)) {
            log.println(info.title() + ": already in " + dataDir);
            return dataDir;
        }
        for (DataSets.Resource r : info.downloads()) {
            Path target = dir.resolve(r.file());
            if (Files.isRegularFile(target) && sha256(target).equals(r.sha256())) {
                log.println(r.file() + ": already downloaded and verified");
            } else {
                download(r, target);
            }
            if (info.archive()) Tar.extractGz(target, dir, name -> name.endsWith(".bin") || name.endsWith(".txt"));
        }
        if (!DataSets.complete(info, dataDir)) {
            throw new IOException(info.title() + ": the downloaded files did not provide " + info.trainFiles() + " and " + info.testFiles()
                    + " in " + dataDir);
        }
        return dataDir;
    }

    /**
     * What went wrong, never "null": the exception's message, or where it has none (Java's HTTP
     * client throws a bare ConnectException when there is no network) its type and its cause's.
     */
    static String cause(Throwable e) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = e; t != null; t = t.getCause()) {
            String m = t.getMessage();
            if (b.length() > 0) b.append(", caused by ");
            if (t instanceof java.nio.channels.UnresolvedAddressException || t instanceof java.net.UnknownHostException) {
                return b.append("the host name could not be resolved (no network or no DNS?)").toString();
            }
            b.append(t.getClass().getSimpleName());
            if (m != null && !m.isBlank()) return b.append(": ").append(m).toString();
            if (t.getCause() == t) break;
        }
        return b.toString();
    }

    /** One file, verified; the target appears only if its checksum matches. */
    public void download(DataSets.Resource r, Path target) throws IOException {
        Path tmp = target.resolveSibling("." + target.getFileName() + ".part");
        HttpResponse<InputStream> response;
        try {
            response = http.send(HttpRequest.newBuilder(URI.create(r.url())).timeout(Duration.ofMinutes(30)).GET().build(),
                    HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while downloading " + r.url(), e);
        } catch (IOException e) {
            throw new IOException("cannot download " + r.url() + ": " + cause(e), e);
        }
        if (response.statusCode() != 200) {
            response.body().close();
            throw new IOException("cannot download " + r.url() + ": HTTP " + response.statusCode());
        }
        long expected = response.headers().firstValueAsLong("content-length").orElse(r.size());
        MessageDigest sha = newSha256();
        long got = 0;
        try (InputStream in = response.body(); OutputStream out = new DigestOutputStream(Files.newOutputStream(tmp), sha)) {
            byte[] buf = new byte[1 << 16];
            int n, lastPercent = -1;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
                got += n;
                int percent = expected > 0 ? (int) (100 * got / expected) : -1;
                if (percent != lastPercent && percent % 10 == 0) {
                    log.printf(Locale.ROOT, "downloading %s: %d%% of %.1f MB%n", r.file(), percent, expected / 1e6);
                    lastPercent = percent;
                }
            }
        } catch (IOException e) {
            Files.deleteIfExists(tmp);
            throw new IOException("download of " + r.url() + " broke off after " + got + " bytes: " + e.getMessage(), e);
        }
        String actual = HexFormat.of().formatHex(sha.digest());
        if (!actual.equals(r.sha256())) {
            Files.deleteIfExists(tmp);
            throw new IOException(r.file() + " from " + r.url() + " failed its checksum: SHA-256 " + actual + ", expected " + r.sha256()
                    + " (" + got + " bytes received); the file was not kept");
        }
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        log.println(r.file() + ": " + got + " bytes, SHA-256 verified");
    }

    public static String sha256(Path file) throws IOException {
        MessageDigest sha = newSha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) sha.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JVM has no SHA-256", e);
        }
    }
}
