package dev.phalanx.autograd;

/**
 * Whether operations on this thread are recorded for backward. Like PyTorch's grad mode it is
 * per thread: each replica runs on its own thread, so one replica's no-grad scope never turns
 * recording off for another.
 */
public final class GradMode {

    private static final ThreadLocal<int[]> DISABLED_DEPTH = ThreadLocal.withInitial(() -> new int[1]);

    private GradMode() { }

    public static boolean isEnabled() {
        return DISABLED_DEPTH.get()[0] == 0;
    }

    /**
     * Turns recording off until the returned scope is closed:
     * {@code try (var scope = GradMode.noGrad()) { ... }}. Scopes nest.
     */
    public static Scope noGrad() {
        int[] depth = DISABLED_DEPTH.get();
        depth[0]++;
        return new Scope(depth);
    }

    /** A no-grad region; closing it twice is harmless. */
    public static final class Scope implements AutoCloseable {
        private final int[] depth;
        private boolean open = true;

        private Scope(int[] depth) {
            this.depth = depth;
        }

        @Override
        public void close() {
            if (open) {
                open = false;
                depth[0]--;
            }
        }
    }
}
