package dev.phalanx.tensor;

import dev.phalanx.kernels.cpu.CpuBackend;

/**
 * Which CPU backend this thread's operations run on. A replica binds its own backend on its
 * own thread ({@code try (var scope = Backends.use(backend)) { ... }}); a thread that binds
 * none uses the shared single-threaded one, which has no mutable state.
 */
public final class Backends {

    private static final ThreadLocal<CpuBackend> CURRENT = new ThreadLocal<>();

    private Backends() { }

    public static CpuBackend cpu() {
        CpuBackend b = CURRENT.get();
        return b != null ? b : CpuBackend.serial();
    }

    public static Scope use(CpuBackend backend) {
        CpuBackend previous = CURRENT.get();
        CURRENT.set(backend);
        return new Scope(previous);
    }

    /** Restores the backend that was bound before. */
    public static final class Scope implements AutoCloseable {
        private final CpuBackend previous;

        private Scope(CpuBackend previous) {
            this.previous = previous;
        }

        @Override
        public void close() {
            if (previous == null) CURRENT.remove(); else CURRENT.set(previous);
        }
    }
}
