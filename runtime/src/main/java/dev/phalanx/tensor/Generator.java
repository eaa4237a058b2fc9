package dev.phalanx.tensor;

/**
 * A seeded random number generator (xoshiro256**, seeded through SplitMix64). Two generators
 * with the same seed give the same numbers; there is no global one. Its whole state can be
 * saved and restored, so a resumed run draws what an uninterrupted one would have.
 */
public final class Generator {

    /** Each thread's default generator, used where no Generator is given; seeded unpredictably until {@link #manualSeedDefault}. */
    private static final ThreadLocal<Generator> DEFAULT =
            ThreadLocal.withInitial(() -> new Generator(java.util.concurrent.ThreadLocalRandom.current().nextLong()));

    private long s0, s1, s2, s3;
    private double spareNormal;
    private boolean hasSpare;
    /**
     * This generator's state on each device it draws on (dropout's masks): two int64 in device memory, a seed drawn
     * once from this generator and a counter offset the device advances per draw (PyTorch's graph-safe Philox state),
     * so a captured step replayed draws new numbers. Null until the first draw on a device; reseeding drops them.
     */
    private java.util.Map<dev.phalanx.kernels.Device, Tensor> deviceStates;

    /**
     * This thread's default generator, the one modules and creation functions draw from when no
     * Generator is given. It is per thread, so data-parallel replicas (each on its own thread)
     * never draw from one another's: the one piece of per-thread mutable state besides grad mode.
     */
    public static Generator defaultGenerator() {
        return DEFAULT.get();
    }

    /** Reseeds this thread's default generator, as {@code torch.manual_seed}; returns it. */
    public static Generator manualSeedDefault(long seed) {
        return DEFAULT.get().manualSeed(seed);
    }

    public Generator(long seed) {
        manualSeed(seed);
    }

    public Generator manualSeed(long seed) {
        long z = seed;
        s0 = splitMix(z += 0x9E3779B97F4A7C15L);
        s1 = splitMix(z += 0x9E3779B97F4A7C15L);
        s2 = splitMix(z += 0x9E3779B97F4A7C15L);
        s3 = splitMix(z + 0x9E3779B97F4A7C15L);
        hasSpare = false;
        deviceStates = null;
        return this;
    }

    /**
     * This generator's state on {@code device}: {seed, offset} as int64 in device memory, made at the first call (the seed
     * is this generator's next number, the offset 0). The kernels that draw from it read both and advance the offset on
     * the device; the host never reads it back.
     */
    public Tensor deviceState(dev.phalanx.kernels.Device device) {
        if (device.isCpu()) throw new IllegalArgumentException("a generator's device state is for a device, got the cpu");
        if (deviceStates == null) deviceStates = new java.util.HashMap<>();
        Tensor state = deviceStates.get(device);
        if (state == null) {
            state = Tensor.ofLongs(new long[] {nextLong(), 0}, 2).to(device);
            deviceStates.put(device, state);
        }
        return state;
    }

    /** Whether {@link #deviceState} was made for {@code device} (making it copies to the device, which a capture cannot). */
    public boolean hasDeviceState(dev.phalanx.kernels.Device device) {
        return deviceStates != null && deviceStates.containsKey(device);
    }

    private static long splitMix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    public long nextLong() {
        long result = Long.rotateLeft(s1 * 5, 7) * 9;
        long t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = Long.rotateLeft(s3, 45);
        return result;
    }

    /** Uniform in [0, 1) with 24 random bits, exactly representable as a float. */
    public float nextFloat() {
        return (nextLong() >>> 40) * 0x1.0p-24f;
    }

    public double nextDouble() {
        return (nextLong() >>> 11) * 0x1.0p-53;
    }

    /** Uniform integer in [0, bound). */
    public int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be > 0, got " + bound);
        long r = nextLong() >>> 1;
        long m = bound;
        long limit = Long.MAX_VALUE - (Long.MAX_VALUE % m); // rejection keeps it unbiased
        while (r >= limit) r = nextLong() >>> 1;
        return (int) (r % m);
    }

    /** Standard normal (Box-Muller, the second value kept for the next call). */
    public float nextGaussian() {
        if (hasSpare) {
            hasSpare = false;
            return (float) spareNormal;
        }
        double u1, u2;
        do {
            u1 = nextDouble();
        } while (u1 <= 1e-300);
        u2 = nextDouble();
        double r = Math.sqrt(-2 * Math.log(u1));
        spareNormal = r * Math.sin(2 * Math.PI * u2);
        hasSpare = true;
        return (float) (r * Math.cos(2 * Math.PI * u2));
    }

    /** A random permutation of 0..n-1 (Fisher-Yates). */
    public int[] permutation(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        for (int i = n - 1; i > 0; i--) {
            int j = nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }

    /** The whole state, for checkpoints: four words, the spare normal's bits, and its flag. */
    public long[] state() {
        return new long[] {s0, s1, s2, s3, Double.doubleToRawLongBits(spareNormal), hasSpare ? 1 : 0};
    }

    public void setState(long[] state) {
        if (state.length != 6) throw new IllegalArgumentException("generator state must have 6 words, got " + state.length);
        s0 = state[0];
        s1 = state[1];
        s2 = state[2];
        s3 = state[3];
        spareNormal = Double.longBitsToDouble(state[4]);
        hasSpare = state[5] != 0;
        deviceStates = null; // restored: the next draw on a device takes its seed from the restored numbers
    }
}
