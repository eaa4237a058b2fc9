package dev.phalanx.service;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.TimeUnit;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;

import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.http.javadsl.ConnectionContext;
import org.apache.pekko.http.javadsl.Http;
import org.apache.pekko.http.javadsl.ServerBinding;
import org.apache.pekko.http.javadsl.ServerBuilder;

/**
 * {@code phalanx serve}: {@link Training} and its {@link HttpApi} bound to an address, in the
 * caller's ActorSystem. Closing it unbinds, then checkpoints the running runs (they resume at
 * the next start); the ActorSystem stays the caller's to terminate.
 */
public final class PhalanxServer implements AutoCloseable {

    /** Where and how to serve. {@code keyStore} (PKCS12) turns on TLS; {@code token} null: from PHALANX_TOKEN or the token file. */
    public record Settings(String host, int port, Path runs, int maxConcurrent, String token, Path keyStore, char[] keyStorePassword) {
        public static final String DEFAULT_HOST = "127.0.0.1";
        public static final int DEFAULT_PORT = 8080;

        public static Settings defaults(Path runs) {
            return new Settings(DEFAULT_HOST, DEFAULT_PORT, runs, 1, null, null, null);
        }
    }

    /** How long open connections (event streams) get to finish when the server stops. */
    static final Duration UNBIND_GRACE = Duration.ofSeconds(3);

    private final Training training;
    private final ServerBinding binding;
    private final String token;
    private final Path tokenFile;

    private PhalanxServer(Training training, ServerBinding binding, String token, Path tokenFile) {
        this.training = training;
        this.binding = binding;
        this.token = token;
        this.tokenFile = tokenFile;
    }

    /** Starts the run queue and binds the API; what a user must know goes to {@code out}. */
    public static PhalanxServer start(ActorSystem<?> system, Settings s, PrintStream out) throws IOException {
        Files.createDirectories(s.runs());
        String token = s.token();
        Path tokenFile = null;
        if (token == null || token.isEmpty()) {
            String env = System.getenv("PHALANX_TOKEN");
            if (env != null && !env.isBlank()) {
                token = env.trim();
            } else {
                tokenFile = s.runs().resolve("token");
                token = Tokens.readOrCreate(tokenFile);
                out.println("API token in " + tokenFile.toAbsolutePath() + " (owner-only); send it as 'Authorization: Bearer <token>'");
            }
        }
        boolean tls = s.keyStore() != null;
        if (!isLoopback(s.host()) && !tls) {
            out.println("warning: serving on " + s.host() + " without TLS: the token and the weights cross the network in clear text; "
                    + "give --tls-keystore, or bind 127.0.0.1 behind a TLS proxy");
        }
        Training training = Training.start(system, s.runs(), s.maxConcurrent());
        try {
            ServerBuilder builder = Http.get(system).newServerAt(s.host(), s.port());
            if (tls) builder = builder.enableHttps(ConnectionContext.httpsServer(sslContext(s.keyStore(), s.keyStorePassword())));
            ServerBinding binding = builder.bind(new HttpApi(training, system, token).routes()).toCompletableFuture().get(30, TimeUnit.SECONDS);
            out.println("Phalanx serving on " + (tls ? "https" : "http") + "://" + hostPort(binding) + "/ (runs in "
                    + s.runs().toAbsolutePath() + ")");
            return new PhalanxServer(training, binding, token, tokenFile);
        } catch (Exception e) {
            training.close();
            Throwable c = e instanceof java.util.concurrent.ExecutionException && e.getCause() != null ? e.getCause() : e;
            throw new IOException("cannot serve on " + s.host() + ":" + s.port() + ": " + RunManager.oneLine(c), c);
        }
    }

    private static String hostPort(ServerBinding b) {
        return b.localAddress().getHostString() + ":" + b.localAddress().getPort();
    }

    public int port() {
        return binding.localAddress().getPort();
    }

    public String token() {
        return token;
    }

    /** The token file, where the token was generated (null when it came from PHALANX_TOKEN or the settings). */
    public Path tokenFile() {
        return tokenFile;
    }

    public Training training() {
        return training;
    }

    static boolean isLoopback(String host) {
        try {
            return InetAddress.getByName(host).isLoopbackAddress();
        } catch (IOException e) {
            return false;
        }
    }

    private static SSLContext sslContext(Path keyStore, char[] password) throws IOException, GeneralSecurityException {
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keyStore)) {
            ks.load(in, password);
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, password);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(kmf.getKeyManagers(), null, new SecureRandom());
        return ctx;
    }

    /** Unbinds (open event streams get {@link #UNBIND_GRACE}), then stops the runs as {@link Training#close} says. */
    @Override
    public void close() {
        try {
            binding.terminate(UNBIND_GRACE).toCompletableFuture().get(UNBIND_GRACE.toSeconds() + 5, TimeUnit.SECONDS);
        } catch (Exception e) {
            // the port is released when the ActorSystem ends
        } finally {
            training.close();
        }
    }

    /** The API token: a file with owner-only permissions, made once and read at each start. */
    static final class Tokens {
        private Tokens() { }

        static String readOrCreate(Path file) throws IOException {
            if (Files.isRegularFile(file)) {
                String t = Files.readString(file, StandardCharsets.UTF_8).trim();
                if (!t.isEmpty()) return t;
            }
            byte[] bytes = new byte[32];
            new SecureRandom().nextBytes(bytes);
            String t = HexFormat.of().formatHex(bytes);
            Files.deleteIfExists(file);
            Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            Files.writeString(file, t + "\n", StandardCharsets.UTF_8);
            return t;
        }
    }
}
