package dev.phalanx.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.sun.net.httpserver.HttpServer;

import dev.phalanx.testing.TestFiles;

/**
 * The download path against a real HTTP server on 127.0.0.1 that serves files in the real
 * formats, written by the test: checksums verified, archives unpacked, failures explained.
 */
class DownloaderTest {

    @TempDir
    Path tmp;

    private HttpServer server;
    private final Map<String, byte[]> served = new ConcurrentHashMap<>();
    private String base;
    private final ByteArrayOutputStream log = new ByteArrayOutputStream();

    @BeforeEach
    void start() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", ex -> {
            byte[] body = served.get(ex.getRequestURI().getPath().substring(1));
            if (body == null) {
                ex.sendResponseHeaders(404, -1);
            } else {
                ex.sendResponseHeaders(200, body.length);
                ex.getResponseBody().write(body);
            }
            ex.close();
        });
        server.start();
        base = "http://127.0.0.1:" + server.getAddress().getPort() + "/";
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    private static String sha256(byte[] b) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
    }

    /** Fashion-MNIST's registry entry, pointed at the test server with the test files' checksums. */
    private DataSets.Info fashionServedLocally() throws Exception {
        Path src = tmp.resolve("src");
        TestFiles.writeIdxSet(src, "train", 30, 1);
        TestFiles.writeIdxSet(src, "t10k", 10, 2);
        List<DataSets.Resource> res = new ArrayList<>();
        for (DataSets.Resource r : DataSets.FASHION_MNIST.downloads()) {
            byte[] b = Files.readAllBytes(src.resolve(r.file()));
            served.put(r.file(), b);
            res.add(new DataSets.Resource(r.file(), base + r.file(), sha256(b), b.length));
        }
        return DataSets.FASHION_MNIST.withDownloads(res);
    }

    @Test
    void fetchesVerifiesAndLoads() throws Exception {
        DataSets.Info info = fashionServedLocally();
        Path dir = new Downloader(new PrintStream(log)).fetch(info, tmp.resolve("data"));
        ImageDataset train = DataSets.load(info, dir, true, null);
        assertEquals(30, train.size());
        assertEquals(10, DataSets.load(info, dir, false, null).size());
        assertTrue(log.toString().contains("SHA-256 verified"), log.toString());
        // a second fetch finds everything in place
        new Downloader(new PrintStream(log)).fetch(info, tmp.resolve("data"));
        assertTrue(log.toString().contains("already in"), log.toString());
    }

    @Test
    void aChecksumMismatchKeepsNothing() throws Exception {
        DataSets.Info info = fashionServedLocally();
        List<DataSets.Resource> bad = new ArrayList<>(info.downloads());
        DataSets.Resource r0 = bad.get(0);
        bad.set(0, new DataSets.Resource(r0.file(), r0.url(), "0".repeat(64), r0.size()));
        Path dir = tmp.resolve("data");
        IOException e = assertThrows(IOException.class, () -> new Downloader(new PrintStream(log)).fetch(info.withDownloads(bad), dir));
        assertTrue(e.getMessage().startsWith("train-images-idx3-ubyte.gz from " + r0.url() + " failed its checksum: SHA-256 "), e.getMessage());
        assertTrue(e.getMessage().contains("expected " + "0".repeat(64)), e.getMessage());
        assertFalse(Files.exists(dir.resolve(r0.file())), "a file that failed its checksum must not be kept");
        try (var files = Files.list(dir)) {
            assertEquals(List.of(), files.toList(), "no partial file left behind");
        }
    }

    @Test
    void aMissingFileOnTheServerIsNamed() throws Exception {
        DataSets.Info info = fashionServedLocally();
        served.remove("t10k-labels-idx1-ubyte.gz");
        IOException e = assertThrows(IOException.class, () -> new Downloader(new PrintStream(log)).fetch(info, tmp.resolve("d")));
        assertEquals("cannot download " + base + "t10k-labels-idx1-ubyte.gz: HTTP 404", e.getMessage());
    }

    @Test
    void networkErrorsNameTheirCauseNeverNull() {
        // what Java's HTTP client throws without a network: exceptions without messages
        java.net.ConnectException bare = new java.net.ConnectException();
        bare.initCause(new java.nio.channels.UnresolvedAddressException());
        assertEquals("ConnectException, caused by the host name could not be resolved (no network or no DNS?)", Downloader.cause(bare));
        assertEquals("ConnectException", Downloader.cause(new java.net.ConnectException()));
        assertEquals("HttpTimeoutException: request timed out", Downloader.cause(new java.net.http.HttpTimeoutException("request timed out")));
    }

    @Test
    void cifarArchiveIsVerifiedAndUnpacked() throws Exception {
        Map<String, byte[]> members = new LinkedHashMap<>();
        for (int i = 1; i <= 5; i++) members.put("cifar-10-batches-bin/data_batch_" + i + ".bin", TestFiles.cifarRecords(4, i));
        members.put("cifar-10-batches-bin/test_batch.bin", TestFiles.cifarRecords(3, 9));
        members.put("cifar-10-batches-bin/batches.meta.txt", "airplane\nautomobile\n".getBytes());
        byte[] archive = TestFiles.tarGz(members);
        served.put("cifar-10-binary.tar.gz", archive);
        DataSets.Info info = DataSets.CIFAR10.withDownloads(List.of(
                new DataSets.Resource("cifar-10-binary.tar.gz", base + "cifar-10-binary.tar.gz", sha256(archive), archive.length)));
        Path dir = new Downloader(new PrintStream(log)).fetch(info, tmp.resolve("cifar10"));
        assertEquals(tmp.resolve("cifar10").resolve("cifar-10-batches-bin"), dir);
        assertEquals(20, DataSets.load(info, dir, true, null).size());
        assertEquals(3, DataSets.load(info, dir, false, null).size());
        // and the registry finds it where the downloader put it
        assertEquals(dir, DataSets.locate(info, tmp.resolve("cifar10")));
    }

    @Test
    void theOfficialAddressesCarryChecksums() {
        for (DataSets.Info i : DataSets.ALL) {
            for (DataSets.Resource r : i.downloads()) {
                assertTrue(r.sha256().matches("[0-9a-f]{64}"), r.file());
                assertTrue(r.url().endsWith("/" + r.file()), r.url());
            }
        }
    }

    @Test
    void aMissingDataSetSaysWhereItLookedAndHowToGetIt(@TempDir Path empty) {
        DatasetNotFoundException e = assertThrows(DatasetNotFoundException.class, () -> DataSets.locate(DataSets.CIFAR10, empty));
        assertTrue(e.getMessage().startsWith("CIFAR-10 not found. Looked for data_batch_1.bin"), e.getMessage());
        assertTrue(e.getMessage().contains(empty.toString()) && e.getMessage().contains("data/cifar10")
                && e.getMessage().contains("/usr/share/datasets/cifar10") && e.getMessage().contains("--download"), e.getMessage());
    }
}
