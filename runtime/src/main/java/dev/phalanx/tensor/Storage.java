package dev.phalanx.tensor;

/**
 * The buffer behind one or more tensors, and nothing else: its element type, its length and a
 * version counter that every in-place write bumps (autograd refuses a backward whose saved
 * tensor was modified since it was saved, as PyTorch does). Views share their base's storage.
 *
 * <p>Host memory is the only kind built; device memory ({@code DeviceStorage}, an opaque buffer
 * from a device's caching allocator, see DESIGN.md) joins the permitted list with the GPU backend.
 */
public sealed interface Storage permits HostStorage {

    DType dtype();

    /** Number of elements. */
    int length();

    /** How many in-place writes this buffer has seen. */
    int version();

    /** Records an in-place write. */
    void bumpVersion();
}
