package dev.phalanx.kernels.cpu;

/** The shapes of one 2-d pooling over {@code planes} = N*C planes of h x w (floor mode). */
public record PoolGeometry(int planes, int h, int w, int kh, int kw, int sh, int sw, int ph, int pw) {

    public PoolGeometry {
        if (kh < 1 || kw < 1 || sh < 1 || sw < 1) {
            throw new IllegalArgumentException("pool2d: kernel size and stride must be >= 1, got kernel (" + kh + ", " + kw
                    + ") stride (" + sh + ", " + sw + ")");
        }
        if (ph < 0 || pw < 0 || 2 * ph > kh || 2 * pw > kw) {
            throw new IllegalArgumentException("pool2d: pad should be at most half of effective kernel size, but got pad=("
                    + ph + ", " + pw + ") and kernel_size=(" + kh + ", " + kw + ")");
        }
        if (h + 2 * ph < kh || w + 2 * pw < kw) {
            throw new IllegalArgumentException("pool2d: input (" + h + ", " + w + ") is smaller than the kernel (" + kh + ", " + kw + ")");
        }
    }

    public int oh() { return (h + 2 * ph - kh) / sh + 1; }
    public int ow() { return (w + 2 * pw - kw) / sw + 1; }
}
