package dev.phalanx.kernels.cpu;

/**
 * Scratch arrays of one backend's pure-Java kernels, one set per lane (a part of its parallel
 * loop), kept across calls so that the steady state allocates none (im2col columns are about
 * 0.2 MB per LeNet image; fresh ones cost their zeroing and the garbage collector's time).
 * Contents are not cleared: a kernel overwrites what it uses. A kernel holds the lock of this
 * object for the whole call, so two threads sharing one backend (the serial one) take turns.
 */
final class LaneScratch {

    private final float[][][] arrays; // [lane][slot]

    LaneScratch(int lanes, int slots) {
        arrays = new float[lanes][slots][0];
    }

    /** Lane {@code lane}'s array {@code slot}, at least {@code size} long; call with this object's lock held. */
    float[] get(int lane, int slot, int size) {
        float[] a = arrays[lane][slot];
        if (a.length < size) {
            a = new float[size];
            arrays[lane][slot] = a;
        }
        return a;
    }
}
