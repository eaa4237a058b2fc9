package dev.phalanx.kernels.cpu;

/**
 * Moves the runs of floats that the pure-Java convolutions' im2col, im2row and col2im are made
 * of: a run of one input row per kernel tap and output row (28 floats in LeNet's conv1, 10 in
 * conv2), or of one kernel row per output pixel (5 floats). Copies are exact and each sum is
 * the same single add whatever does it, so the implementations give the same bits; they differ
 * in speed only ({@link JavaKernels#runs()} picks one).
 */
interface Runs {

    /**
     * dst[d + i] = src[s + i] for i < n. May also write anything to dst[d + n, limit): callers
     * that fill an array in increasing order pass the end of what they will still write (so what
     * this leaves there is overwritten), others pass {@code d + n}.
     */
    void copy(float[] src, int s, float[] dst, int d, int n, int limit);

    /**
     * {@code count} runs of {@code n}: run r from {@code src[s + r * sStride]} to
     * {@code dst[d + r * dStride]}, in that order ({@code dStride >= n}). {@code limit} as for
     * {@link #copy}: the end of what the caller still writes after these runs.
     */
    default void copyRuns(float[] src, int s, int sStride, float[] dst, int d, int dStride, int count, int n, int limit) {
        for (int r = 0; r < count; r++) copy(src, s + r * sStride, dst, d + r * dStride, n, limit);
    }

    /**
     * One output pixel's patch whose window lies inside the image, as im2row lays it out: for
     * each of {@code channels} input planes ({@code planeStride} apart) and each of {@code kh}
     * input rows ({@code rowStride} apart) from {@code src}, a run of {@code kw} inputs, the runs
     * back to back from {@code dst}. {@code limit} as for {@link #copy}.
     */
    default void window(float[] x, int src, int channels, int planeStride, int kh, int rowStride, int kw,
                        float[] dst, int d, int limit) {
        for (int c = 0; c < channels; c++) {
            for (int ki = 0; ki < kh; ki++, d += kw) copy(x, src + c * planeStride + ki * rowStride, dst, d, kw, limit);
        }
    }

    /**
     * dst[d + i] += src[s + i] for i < n (one add per element). Elements of dst[d + n, limit)
     * may be read and written back unchanged: the caller passes the end of what no other thread
     * writes meanwhile (its own image), or {@code d + n}.
     */
    void add(float[] src, int s, float[] dst, int d, int n, int limit);

    /** Plain Java: {@code System.arraycopy} and a loop; writes nothing past the run. */
    Runs SCALAR = new Runs() {
        @Override
        public void copy(float[] src, int s, float[] dst, int d, int n, int limit) {
            System.arraycopy(src, s, dst, d, n);
        }

        @Override
        public void add(float[] src, int s, float[] dst, int d, int n, int limit) {
            for (int i = 0; i < n; i++) dst[d + i] += src[s + i];
        }
    };
}
