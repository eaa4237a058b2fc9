package dev.phalanx.service;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509TrustManager;

import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import com.typesafe.config.ConfigFactory;

/** The token file, the warning for a non-local address, and TLS. */
class ServiceSecurityTest {

    @TempDir
    Path tmp;
    ActorSystem<Void> system;
    final ByteArrayOutputStream out = new ByteArrayOutputStream();

    @BeforeEach
    void start() {
        system = ActorSystem.create(Behaviors.empty(), "security-test", ConfigFactory.parseString("pekko.loglevel = WARNING")
                .withFallback(ConfigFactory.load()));
    }

    @AfterEach
    void stop() throws Exception {
        system.terminate();
        system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    private PhalanxServer serve(String host, String token, Path keyStore, char[] password) throws Exception {
        return PhalanxServer.start(system, new PhalanxServer.Settings(host, 0, tmp.resolve("runs"), 1, token, keyStore, password),
                new PrintStream(out, true, StandardCharsets.UTF_8));
    }

    @Test
    void withoutPhalanxTokenATokenFileIsMadeOwnerOnlyAndItsPathPrinted() throws Exception {
        Assumptions.assumeTrue(System.getenv("PHALANX_TOKEN") == null, "PHALANX_TOKEN is set in this environment, so no token file is made");
        String token;
        try (PhalanxServer server = serve("127.0.0.1", null, null, null)) {
            Path file = tmp.resolve("runs").resolve("token");
            assertEquals(file, server.tokenFile());
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
            token = Files.readString(file).trim();
            assertEquals(64, token.length());
            assertTrue(out.toString(StandardCharsets.UTF_8).contains("API token in " + file.toAbsolutePath()), out.toString(StandardCharsets.UTF_8));
            assertFalse(out.toString(StandardCharsets.UTF_8).contains(token), "the token itself is not printed");
            assertEquals(200, new ServiceClient(server.port(), token).get("/api/runs").status());
            assertEquals(401, new ServiceClient(server.port(), null).get("/api/runs").status());
        }
        try (PhalanxServer again = serve("127.0.0.1", null, null, null)) {
            assertEquals(token, again.token(), "the same token after a restart");
        }
    }

    @Test
    void bindingBeyondLoopbackWithoutTlsWarns() throws Exception {
        try (PhalanxServer server = serve("0.0.0.0", "t", null, null)) {
            assertTrue(out.toString(StandardCharsets.UTF_8).contains("warning: serving on 0.0.0.0 without TLS"), out.toString(StandardCharsets.UTF_8));
        }
        out.reset();
        try (PhalanxServer server = serve("127.0.0.1", "t", null, null)) {
            assertFalse(out.toString(StandardCharsets.UTF_8).contains("warning"), out.toString(StandardCharsets.UTF_8));
        }
    }

    @Test
    void withAKeyStoreItServesHttpsAndDoesNotWarn() throws Exception {
        Path ks = tmp.resolve("server.p12");
        char[] password = "changeit".toCharArray();
        Process keytool = new ProcessBuilder(List.of(Path.of(System.getProperty("java.home"), "bin", "keytool").toString(), "-genkeypair",
                "-alias", "phalanx", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2", "-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-storetype", "PKCS12",
                "-keystore", ks.toString(), "-storepass", "changeit", "-keypass", "changeit")).redirectErrorStream(true).start();
        assertTrue(keytool.waitFor(60, TimeUnit.SECONDS) && keytool.exitValue() == 0, new String(keytool.getInputStream().readAllBytes()));
        try (PhalanxServer server = serve("0.0.0.0", "t", ks, password)) {
            assertFalse(out.toString(StandardCharsets.UTF_8).contains("warning"), out.toString(StandardCharsets.UTF_8));
            assertTrue(out.toString(StandardCharsets.UTF_8).contains("Phalanx serving on https://"), out.toString(StandardCharsets.UTF_8));
            SSLContext trustAll = SSLContext.getInstance("TLS"); // the test's self-signed certificate
            trustAll.init(null, new TrustManager[] {new X509TrustManager() {
                public void checkClientTrusted(X509Certificate[] c, String a) { }
                public void checkServerTrusted(X509Certificate[] c, String a) { }
                public X509Certificate[] getAcceptedIssuers() { return new X509Certificate[0]; }
            }}, null);
            HttpClient https = HttpClient.newBuilder().sslContext(trustAll).connectTimeout(Duration.ofSeconds(5)).build();
            HttpResponse<String> r = https.send(HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + server.port() + "/api/runs"))
                    .header("Authorization", "Bearer t").timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode());
            assertEquals("[]", r.body());
        }
    }
}
