package dev.phalanx.kernels.cpu;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@link Runs} on the incubating Vector API, in whole vectors of the preferred width. A copy at
 * least a vector long ends with one vector placed flush with the run's end, overlapping the one
 * before (an element copied twice is harmless); a shorter one is a single vector whose lanes past
 * the run land in the caller's slack ({@code limit}: positions it writes afterwards), or a loop
 * where the slack or the source is too short. An add steps through whole vectors and finishes
 * in a loop (an element added twice would be wrong). The runs of LeNet's im2row are 5 floats:
 * as a Java loop (C2's set-up for a trip count of 5) they made the weight gradient's im2row 40 %
 * of a fallback step. One species only: mixing vector sizes pollutes the type profiles of the
 * Vector API's shared methods, and C2 then stopped intrinsifying them, in the GEMM too (10x
 * slower, measured). Only loaded where the JVM resolved the module (see {@link JavaKernels}).
 */
final class VectorRuns implements Runs {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** 0, 1, 2, ... in the lanes: compared with a run's length it masks the run's lanes. */
    private static final FloatVector IOTA = FloatVector.zero(S).addIndex(1);

    VectorRuns() { }

    @Override
    public void copy(float[] src, int s, float[] dst, int d, int n, int limit) {
        if (n >= L) {
            int i = 0;
            for (; i + L <= n; i += L) FloatVector.fromArray(S, src, s + i).intoArray(dst, d + i);
            if (i < n) FloatVector.fromArray(S, src, s + n - L).intoArray(dst, d + n - L);
        } else if (d + L <= limit && s + L <= src.length) {
            FloatVector.fromArray(S, src, s).intoArray(dst, d);
        } else {
            for (int i = 0; i < n; i++) dst[d + i] = src[s + i];
        }
    }

    /** Runs of a vector or more as {@link #copy}; shorter runs one vector each while the source and the slack allow. */
    @Override
    public void copyRuns(float[] src, int s, int sStride, float[] dst, int d, int dStride, int count, int n, int limit) {
        if (n >= L) {
            for (int r = 0; r < count; r++, s += sStride, d += dStride) {
                int i = 0;
                for (; i + L <= n; i += L) FloatVector.fromArray(S, src, s + i).intoArray(dst, d + i);
                if (i < n) FloatVector.fromArray(S, src, s + n - L).intoArray(dst, d + n - L);
            }
            return;
        }
        int r = 0;
        for (; r < count && d + L <= limit && s + L <= src.length; r++, s += sStride, d += dStride) {
            FloatVector.fromArray(S, src, s).intoArray(dst, d);
        }
        for (; r < count; r++, s += sStride, d += dStride) {
            for (int i = 0; i < n; i++) dst[d + i] = src[s + i];
        }
    }

    /** The runs one vector each while the source and the slack allow (all but the image's last few). */
    @Override
    public void window(float[] x, int src, int channels, int planeStride, int kh, int rowStride, int kw,
                       float[] dst, int d, int limit) {
        int last = src + (channels - 1) * planeStride + (kh - 1) * rowStride; // the last run's start
        if (kw > L || last + L > x.length || d + channels * kh * kw - kw + L > limit) {
            Runs.super.window(x, src, channels, planeStride, kh, rowStride, kw, dst, d, limit);
            return;
        }
        for (int c = 0; c < channels; c++) {
            int s = src + c * planeStride;
            for (int ki = 0; ki < kh; ki++, d += kw, s += rowStride) FloatVector.fromArray(S, x, s).intoArray(dst, d);
        }
    }

    @Override
    public void add(float[] src, int s, float[] dst, int d, int n, int limit) {
        int i = 0;
        for (; i + L <= n; i += L) {
            FloatVector.fromArray(S, dst, d + i).add(FloatVector.fromArray(S, src, s + i)).intoArray(dst, d + i);
        }
        if (i < n && d + i + L <= limit && s + i + L <= src.length) {
            // the last part in one vector: lanes past the run keep dst's own values (blended back, not added to)
            FloatVector old = FloatVector.fromArray(S, dst, d + i);
            old.blend(old.add(FloatVector.fromArray(S, src, s + i)), IOTA.compare(VectorOperators.LT, (float) (n - i))).intoArray(dst, d + i);
            return;
        }
        for (; i < n; i++) dst[d + i] += src[s + i];
    }
}
