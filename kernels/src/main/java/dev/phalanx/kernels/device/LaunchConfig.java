package dev.phalanx.kernels.device;

/** The grid and block of one kernel launch, and its dynamic shared memory in bytes. */
public record LaunchConfig(int gridX, int gridY, int gridZ, int blockX, int blockY, int blockZ, int sharedBytes) {

    /** Threads per block for the grid-stride elementwise kernels. */
    public static final int ELEMENTWISE_THREADS = 256;
    /** Enough blocks to fill any current GPU; grid-stride loops cover the rest. */
    public static final int MAX_ELEMENTWISE_BLOCKS = 4096;

    /** Threads per block that cross_entropy_forward needs ({@code CE_THREADS} in losses.cu). */
    public static final int CROSS_ENTROPY_THREADS = 128;
    /** Threads of the one block sum_all needs ({@code SUM_THREADS} in reductions.cu). */
    public static final int SUM_THREADS = 256;
    /** Threads per block that softmax_forward and softmax_backward need ({@code SOFTMAX_THREADS} in softmax.cu). */
    public static final int SOFTMAX_THREADS = 128;

    /** Threads of the one block extreme_all needs ({@code EXTREME_THREADS} in reductions.cu). */
    public static final int EXTREME_THREADS = 256;
    /** Threads of the one block sum_all_i64 needs ({@code INT_SUM_THREADS} in dtypes.cu). */
    public static final int INT_SUM_THREADS = 256;
    /** Threads per block (one block per channel) of batch_norm_stats and batch_norm_backward_reduce ({@code BN_THREADS} in normalization.cu). */
    public static final int BATCH_NORM_THREADS = 256;

    public LaunchConfig {
        if (gridX < 1 || gridY < 1 || gridZ < 1 || blockX < 1 || blockY < 1 || blockZ < 1 || sharedBytes < 0) {
            throw new IllegalArgumentException("launch dimensions must be >= 1 and shared memory >= 0, got grid (" + gridX + ", " + gridY
                    + ", " + gridZ + ") block (" + blockX + ", " + blockY + ", " + blockZ + ") shared " + sharedBytes);
        }
        if ((long) blockX * blockY * blockZ > 1024) {
            throw new IllegalArgumentException("a block has at most 1024 threads, got " + blockX + " x " + blockY + " x " + blockZ);
        }
    }

    /** For a grid-stride loop over {@code n} elements. */
    public static LaunchConfig linear(long n) {
        long blocks = Math.max(1, Math.min(MAX_ELEMENTWISE_BLOCKS, (n + ELEMENTWISE_THREADS - 1) / ELEMENTWISE_THREADS));
        return new LaunchConfig((int) blocks, 1, 1, ELEMENTWISE_THREADS, 1, 1, 0);
    }

    /** One block of {@code threads} per row. */
    public static LaunchConfig perRow(int rows, int threads) {
        return new LaunchConfig(Math.max(1, rows), 1, 1, threads, 1, 1, 0);
    }

    /** Blocks of {@code threads} striding over {@code lines} lines (one block per line up to the elementwise cap). */
    public static LaunchConfig perLine(long lines, int threads) {
        return new LaunchConfig((int) Math.max(1, Math.min(MAX_ELEMENTWISE_BLOCKS, lines)), 1, 1, threads, 1, 1, 0);
    }

    /** One block of {@code threads}: the one-block reductions' fixed tree. */
    public static LaunchConfig oneBlock(int threads) {
        return new LaunchConfig(1, 1, 1, threads, 1, 1, 0);
    }

    public long threads() {
        return (long) gridX * gridY * gridZ * blockX * blockY * blockZ;
    }
}
