package dev.phalanx.launcher;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;

import dev.phalanx.service.PhalanxServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code phalanx serve}: the training API and the dashboard. Built exactly as the README's
 * embedding guide says a Pekko service adds Phalanx: one ActorSystem whose config is the
 * service's merged over Phalanx's reference.conf, {@code PhalanxServer.start} in it, and on
 * shutdown the server closed (running runs checkpoint and resume at the next start) before the
 * ActorSystem terminates.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve the training API and the live dashboard (http://127.0.0.1:8080/ by default).",
            "Every API call needs 'Authorization: Bearer <token>': PHALANX_TOKEN, or a token generated into <runs>/token.",
            "Runs wait in a queue kept under --runs; Ctrl-C checkpoints the running run, which resumes at the next start."})
final class ServeCommand implements Callable<Integer> {

    @Option(names = "--bind", defaultValue = PhalanxServer.Settings.DEFAULT_HOST + ":" + PhalanxServer.Settings.DEFAULT_PORT,
            description = "host:port to listen on (default: ${DEFAULT-VALUE}; port 0 picks a free one)")
    String bind;

    @Option(names = "--runs", defaultValue = "runs", description = "the folder of runs, the queue and the token (default: ${DEFAULT-VALUE})")
    Path runs;

    @Option(names = "--max-concurrent", defaultValue = "1", description = "runs on the devices at once (default: ${DEFAULT-VALUE})")
    int maxConcurrent;

    @Option(names = "--tls-keystore", description = "a PKCS12 key store: serve HTTPS (its password in PHALANX_TLS_PASSWORD)")
    Path keyStore;

    @Override
    public Integer call() throws Exception {
        int colon = bind.lastIndexOf(':');
        if (colon <= 0) throw new IllegalArgumentException("--bind " + bind + ": expected host:port, such as 127.0.0.1:8080");
        String host = bind.substring(0, colon);
        int port;
        try {
            port = Integer.parseInt(bind.substring(colon + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--bind " + bind + ": the port must be a number");
        }
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--bind " + bind + ": the port must be 0 to 65535");
        char[] password = null;
        if (keyStore != null) {
            String p = System.getenv("PHALANX_TLS_PASSWORD");
            if (p == null) throw new IllegalArgumentException("--tls-keystore " + keyStore + ": set PHALANX_TLS_PASSWORD to its password");
            password = p.toCharArray();
        }
        // the service's own settings first, Phalanx's reference.conf (the replica dispatcher) merged under them
        Config config = ConfigFactory.parseString("pekko.loglevel = WARNING\npekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off")
                .withFallback(ConfigFactory.load());
        ActorSystem<Void> system = ActorSystem.create(Behaviors.empty(), "phalanx", config);
        PhalanxServer server;
        try {
            server = PhalanxServer.start(system, new PhalanxServer.Settings(host, port, runs, maxConcurrent, null, keyStore, password), System.out);
        } catch (Exception e) {
            system.terminate();
            throw e;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        Thread hook = new Thread(() -> { // Ctrl-C or SIGTERM: checkpoint what runs, then let the JVM exit
            server.close();
            system.terminate();
            try {
                system.getWhenTerminated().toCompletableFuture().get(60, TimeUnit.SECONDS);
            } catch (Exception e) {
                // exiting anyway
            }
            stopped.countDown();
        }, "phalanx-serve-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        system.getWhenTerminated().toCompletableFuture().join();
        stopped.await(90, TimeUnit.SECONDS);
        return 130; // only a signal ends serve; the JVM is already exiting (Main does not call System.exit for 130)
    }
}
