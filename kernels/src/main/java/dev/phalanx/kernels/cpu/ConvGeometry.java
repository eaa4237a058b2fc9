package dev.phalanx.kernels.cpu;

/**
 * The shapes of one 2-d convolution (NCHW input, [cout, cin, kh, kw] weight, dilation 1,
 * groups 1, zero padding), and the derived output size.
 */
public record ConvGeometry(int n, int cin, int h, int w, int cout, int kh, int kw,
                           int sh, int sw, int ph, int pw) {

    public ConvGeometry {
        if (sh < 1 || sw < 1) throw new IllegalArgumentException("conv2d: stride must be >= 1, got (" + sh + ", " + sw + ")");
        if (ph < 0 || pw < 0) throw new IllegalArgumentException("conv2d: padding must be >= 0, got (" + ph + ", " + pw + ")");
        if (h + 2 * ph < kh || w + 2 * pw < kw) {
            throw new IllegalArgumentException("conv2d: kernel size (" + kh + ", " + kw + ") is larger than the padded input ("
                    + (h + 2 * ph) + ", " + (w + 2 * pw) + ")");
        }
    }

    public int oh() { return (h + 2 * ph - kh) / sh + 1; }
    public int ow() { return (w + 2 * pw - kw) / sw + 1; }
    /** Rows of the unfolded input: one per (input channel, kernel row, kernel column). */
    public int patch() { return cin * kh * kw; }
    public int outPlane() { return oh() * ow(); }
    public int inImage() { return cin * h * w; }
    public int outImage() { return cout * outPlane(); }
}
