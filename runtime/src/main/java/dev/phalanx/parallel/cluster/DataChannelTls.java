package dev.phalanx.parallel.cluster;

import java.io.IOException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.util.Optional;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManagerFactory;

/**
 * TLS for the gradient data channel, from the same key and trust stores as the cluster's
 * remoting ({@code phalanx.cluster.tls}): gradients then travel encrypted, and a ring
 * neighbour is accepted only when it presents a certificate the trust store holds (mutual
 * authentication, as Pekko's {@code tls-tcp} does for the cluster's own traffic). Without the
 * stores the channel is plain TCP, as remoting is.
 */
public final class DataChannelTls {

    private final SSLContext context;
    private final String protocol;

    private DataChannelTls(SSLContext context, String protocol) {
        this.context = context;
        this.protocol = protocol;
    }

    /** The channel's TLS when the settings name key and trust stores; empty for plain TCP. */
    public static Optional<DataChannelTls> of(ClusterSettings.Tls tls) {
        if (tls == null || !tls.on()) return Optional.empty();
        try {
            KeyStore keys = load(tls.keyStore(), tls.keyStorePassword(), "key-store");
            KeyStore trusted = load(tls.trustStore(), tls.trustStorePassword(), "trust-store");
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            String keyPassword = tls.keyPassword().isEmpty() ? tls.keyStorePassword() : tls.keyPassword();
            kmf.init(keys, keyPassword.toCharArray());
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(trusted);
            SSLContext context = SSLContext.getInstance(tls.protocol());
            context.init(kmf.getKeyManagers(), tmf.getTrustManagers(), null);
            return Optional.of(new DataChannelTls(context, tls.protocol()));
        } catch (GeneralSecurityException e) {
            throw new IllegalArgumentException("cluster settings: the data channel's TLS cannot start from phalanx.cluster.tls ("
                    + tls.keyStore() + ", " + tls.trustStore() + "): " + e.getMessage() + "; check the stores' passwords and the protocol", e);
        }
    }

    private static KeyStore load(String file, String password, String key) throws GeneralSecurityException {
        if (!java.nio.file.Files.isRegularFile(Path.of(file))) {
            throw new IllegalArgumentException("cluster settings: phalanx.cluster.tls." + key + " " + file + " does not exist or is not a file"
                    + " (the README shows the keytool commands that make the stores)");
        }
        try {
            return KeyStore.getInstance(Path.of(file).toFile(), password.toCharArray()); // PKCS12 or JKS, as the file says
        } catch (IOException e) {
            throw new IllegalArgumentException("cluster settings: phalanx.cluster.tls." + key + " " + file + " cannot be read: " + e.getMessage()
                    + " (a wrong password reads as a damaged store)", e);
        }
    }

    /** The listening side's engine: it demands the neighbour's certificate. */
    SSLEngine serverEngine() {
        SSLEngine engine = context.createSSLEngine();
        engine.setUseClientMode(false);
        engine.setNeedClientAuth(true);
        engine.setEnabledProtocols(new String[] {protocol});
        return engine;
    }

    /**
     * The connecting side's engine. The peer is checked against the trust store only, with no
     * host-name check, as Pekko's remoting does by default: nodes are named by address, and a
     * cluster's private trust store holds only its own nodes' certificates.
     */
    SSLEngine clientEngine() {
        SSLEngine engine = context.createSSLEngine();
        engine.setUseClientMode(true);
        engine.setEnabledProtocols(new String[] {protocol});
        return engine;
    }
}
