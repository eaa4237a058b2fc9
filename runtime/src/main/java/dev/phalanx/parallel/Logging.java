package dev.phalanx.parallel;

import java.util.ServiceLoader;

import org.slf4j.spi.SLF4JServiceProvider;

/**
 * Phalanx's libraries bring no logging backend (the CLI brings slf4j-simple). Pekko Typed logs
 * through SLF4J, and SLF4J with no backend prints three warning lines on stderr the first time
 * it is used; a program that embeds DataParallel and adds no logger asked for no logging, so
 * before the actor system starts, and only where no backend is on the class path and the
 * program set nothing itself, SLF4J is told to use its no-operation logger explicitly (the
 * choice it would make anyway), quietly.
 */
final class Logging {

    static final String PROVIDER_PROPERTY = "slf4j.provider", VERBOSITY_PROPERTY = "slf4j.internal.verbosity";
    static final String NO_OPERATION = "org.slf4j.helpers.NOP_FallbackServiceProvider";

    private Logging() { }

    static void silenceWithoutBackend() {
        if (System.getProperty(PROVIDER_PROPERTY) != null) return;
        if (ServiceLoader.load(SLF4JServiceProvider.class, Logging.class.getClassLoader()).findFirst().isPresent()) return;
        System.setProperty(PROVIDER_PROPERTY, NO_OPERATION);
        if (System.getProperty(VERBOSITY_PROPERTY) == null) System.setProperty(VERBOSITY_PROPERTY, "WARN");
    }
}
