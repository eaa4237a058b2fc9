package dev.phalanx.kernels.cpu;

import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.dnnl.stream;
import org.bytedeco.javacpp.FloatPointer;

/**
 * One operand at the edge of a oneDNN call: a plain row-major buffer that Java arrays are
 * copied into or out of, and the memory in the layout the primitive chose ({@code format_tag::any},
 * often blocked), with one reorder between them where the two differ. Blocked data never leaves
 * this object. Built once per shape; the buffers are reused on every call.
 */
final class DnnlEdge implements AutoCloseable {

    /** What the primitive reads or writes. */
    final memory prim;
    private final memory user;
    private final FloatPointer userData;
    private final reorder reorder; // null when the primitive takes the plain layout as it is
    private final int floats;
    private final FloatPointer primData;               // the primitive's memory as floats (userData where it is the same memory)
    private final int primFloats;

    /**
     * @param input true when data flows from Java into the primitive, false for results
     */
    DnnlEdge(engine e, memory.desc plain, memory.desc chosen, boolean input) {
        user = new memory(plain, e);
        floats = Math.toIntExact(plain.get_size() / Float.BYTES);
        userData = new FloatPointer(user.get_data_handle()).capacity(floats);
        if (chosen.equals(plain)) {
            prim = user;
            reorder = null;
        } else {
            prim = new memory(chosen, e);
            reorder = input ? new reorder(user, prim) : new reorder(prim, user);
        }
        primFloats = Math.toIntExact(chosen.get_size() / Float.BYTES);
        primData = prim == user ? userData : new FloatPointer(prim.get_data_handle()).capacity(primFloats);
    }

    int floats() {
        return floats;
    }

    /** Copies {@code floats()} values from {@code a[off..]} in and reorders them for the primitive. */
    void in(stream s, float[] a, int off) {
        userData.position(0).put(a, off, floats);
        if (reorder != null) reorder.execute(s, user, prim);
    }

    /**
     * As {@link #in} for a chunk of images of {@code perImage} floats each, only slots
     * {@code [firstSlot, firstSlot + count)} of which are given (from {@code a[off..]}, one image
     * after another): the other slots are zeros.
     */
    void inSlots(stream s, float[] a, int off, int perImage, int firstSlot, int count) {
        if (firstSlot == 0 && count * perImage == floats) {
            in(s, a, off);
            return;
        }
        userData.position(0).fill(0);
        userData.position((long) firstSlot * perImage).put(a, off, count * perImage);
        userData.position(0);
        if (reorder != null) reorder.execute(s, user, prim);
    }

    /** As {@link #out}, only slots {@code [firstSlot, firstSlot + count)} of the chunk's images, to {@code a[off..]}. */
    void outSlots(stream s, float[] a, int off, int perImage, int firstSlot, int count) {
        if (reorder != null) reorder.execute(s, prim, user);
        s._wait();
        userData.position((long) firstSlot * perImage).get(a, off, count * perImage);
        userData.position(0);
    }

    /** How many floats the primitive's memory holds (its layout's size: blocked layouts may pad). */
    int primFloats() {
        return primFloats;
    }

    /**
     * Copies the primitive's result to {@code a[0 .. primFloats())} as it lies, in the primitive's
     * layout, without the reorder ({@link #toPlain} makes it plain later): results that are only
     * added to each other elementwise before they are read can be summed in that layout and
     * reordered once.
     */
    void outRaw(stream s, float[] a) {
        s._wait();
        primData.position(0).get(a, 0, primFloats);
    }

    /**
     * Reorders {@code raw} (the primitive's layout, as {@link #outRaw} gives it) to the plain
     * layout into {@code plain[0 .. floats())}: a reorder only moves values, so every value keeps
     * its bits. Uses the primitive's memory as scratch.
     */
    void toPlain(stream s, float[] raw, float[] plain) {
        if (reorder == null) {
            System.arraycopy(raw, 0, plain, 0, floats);
            return;
        }
        primData.position(0).put(raw, 0, primFloats);
        primData.position(0);
        reorder.execute(s, prim, user);
        s._wait();
        userData.position(0).get(plain, 0, floats);
    }

    /** Reorders the primitive's result to the plain layout and copies it to {@code a[off..]}. */
    void out(stream s, float[] a, int off) {
        if (reorder != null) reorder.execute(s, prim, user);
        s._wait();
        userData.position(0).get(a, off, floats);
    }

    @Override
    public void close() {
        if (reorder != null) {
            reorder.close();
            primData.close();
            prim.close();
        }
        userData.close();
        user.close();
    }
}
