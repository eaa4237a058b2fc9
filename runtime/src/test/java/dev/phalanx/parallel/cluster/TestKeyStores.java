package dev.phalanx.parallel.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Key and trust stores made by the JDK's keytool, as the README tells users to make them. */
final class TestKeyStores {

    private TestKeyStores() { }

    /**
     * A self-signed EC key in {@code <name>.p12} and a trust store {@code <name>-trust.p12} holding
     * its certificate, both with the password {@code changeit}. Returns the settings line that uses them.
     */
    static String make(Path dir, String name) throws Exception {
        keytool(dir, "-genkeypair", "-alias", name, "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=127.0.0.1", "-validity", "2",
                "-keystore", name + ".p12", "-storetype", "PKCS12", "-storepass", "changeit");
        keytool(dir, "-exportcert", "-alias", name, "-keystore", name + ".p12", "-storepass", "changeit", "-rfc", "-file", name + ".pem");
        keytool(dir, "-importcert", "-noprompt", "-alias", name, "-file", name + ".pem", "-keystore", name + "-trust.p12", "-storetype",
                "PKCS12", "-storepass", "changeit");
        return "phalanx.cluster.tls { key-store = \"" + dir.resolve(name + ".p12") + "\", key-store-password = changeit, trust-store = \""
                + dir.resolve(name + "-trust.p12") + "\", trust-store-password = changeit }\n";
    }

    private static void keytool(Path dir, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "keytool").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "keytool hangs");
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ":\n" + out);
    }
}
