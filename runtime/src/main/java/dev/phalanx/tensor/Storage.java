package dev.phalanx.tensor;

/**
 * The buffer behind one or more tensors, and nothing else: its element type, its length and a
 * version counter that every in-place write bumps (autograd refuses a backward whose saved
 * tensor was modified since it was saved, as PyTorch does). Views share their base's storage.
 *
 * <p>Two kinds: {@link HostStorage} (a Java array) and {@link DeviceStorage} (an opaque buffer from
 * a device's caching allocator, on {@code cuda:N} or {@code sim:N}).
 */
public sealed interface Storage permits HostStorage, DeviceStorage {

    DType dtype();

    /** Number of elements. */
    int length();

    /** How many in-place writes this buffer has seen. */
    int version();

    /** Records an in-place write. */
    void bumpVersion();
}
