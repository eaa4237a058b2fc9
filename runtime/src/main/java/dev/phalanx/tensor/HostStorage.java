package dev.phalanx.tensor;

/**
 * Host memory: one Java array chosen by dtype: {@code double[]} (float64), {@code float[]}
 * (float32), {@code short[]} (float16 and bfloat16 bits, int16), {@code long[]} (int64),
 * {@code int[]} (int32), {@code byte[]} (int8, uint8, bool as 0/1). Java arrays let the
 * pure-Java kernels run at full JIT speed and let {@link Tensor#data()} share memory with the
 * caller, as {@code numpy()} does.
 *
 * <p>Elements are read and written through {@code double} or {@code long} with PyTorch's
 * conversions: floats to integers truncate toward zero, integers narrow by wrapping, anything
 * non-zero is {@code true}.
 */
public final class HostStorage implements Storage {

    private final DType dtype;
    private final Object array;
    private final int length;
    private int version;
    /** Over an array from a backend's buffer pool that only the autograd engine references (see {@link #pooled}). */
    private boolean recyclable;

    private HostStorage(DType dtype, Object array, int length) {
        this.dtype = dtype;
        this.array = array;
        this.length = length;
    }

    /** A zero-filled buffer of n elements. */
    public static HostStorage allocate(DType dtype, int n) {
        return switch (dtype) {
            case FLOAT64 -> new HostStorage(dtype, new double[n], n);
            case FLOAT32 -> new HostStorage(dtype, new float[n], n);
            case FLOAT16, BFLOAT16, INT16 -> new HostStorage(dtype, new short[n], n);
            case INT64 -> new HostStorage(dtype, new long[n], n);
            case INT32 -> new HostStorage(dtype, new int[n], n);
            case INT8, UINT8, BOOL -> new HostStorage(dtype, new byte[n], n);
        };
    }

    /** A buffer over {@code array} itself (no copy); its Java type must be the one {@code dtype} uses. */
    public static HostStorage wrap(DType dtype, Object array) {
        int n = switch (dtype) {
            case FLOAT64 -> cast(dtype, array, double[].class).length;
            case FLOAT32 -> cast(dtype, array, float[].class).length;
            case FLOAT16, BFLOAT16, INT16 -> cast(dtype, array, short[].class).length;
            case INT64 -> cast(dtype, array, long[].class).length;
            case INT32 -> cast(dtype, array, int[].class).length;
            case INT8, UINT8, BOOL -> cast(dtype, array, byte[].class).length;
        };
        return new HostStorage(dtype, array, n);
    }

    /**
     * A float32 buffer over an array a backward function took from its backend's
     * {@link dev.phalanx.kernels.cpu.BufferPool} for a gradient it returns: the autograd engine
     * may give the array back to the pool once no gradient it holds refers to it. Only for
     * arrays referenced by nothing else (DESIGN.md, "Buffer reuse").
     */
    public static HostStorage pooled(float[] array) {
        HostStorage s = new HostStorage(DType.FLOAT32, array, array.length);
        s.recyclable = true;
        return s;
    }

    /** Whether the autograd engine may still give this buffer's array back to the pool. */
    public boolean recyclable() {
        return recyclable;
    }

    /** The buffer became reachable where the engine cannot follow it: its array is never given back. */
    public void keep() {
        recyclable = false;
    }

    private static <A> A cast(DType dtype, Object array, Class<A> type) {
        if (!type.isInstance(array)) {
            throw new IllegalArgumentException(dtype.torchName() + " is stored in a " + type.getSimpleName() + ", not in a "
                    + (array == null ? "null" : array.getClass().getSimpleName()));
        }
        return type.cast(array);
    }

    @Override public DType dtype() { return dtype; }
    @Override public int length() { return length; }
    @Override public int version() { return version; }
    @Override public void bumpVersion() { version++; }

    /** The Java array itself. */
    public Object array() { return array; }

    public float[] floats() { return (float[]) array; }
    public double[] doubles() { return (double[]) array; }
    public long[] longs() { return (long[]) array; }
    public int[] ints() { return (int[]) array; }
    public short[] shorts() { return (short[]) array; }
    public byte[] bytes() { return (byte[]) array; }

    public double getDouble(int i) {
        return switch (dtype) {
            case FLOAT64 -> ((double[]) array)[i];
            case FLOAT32 -> ((float[]) array)[i];
            case FLOAT16 -> HalfFloats.halfToFloat(((short[]) array)[i]);
            case BFLOAT16 -> HalfFloats.bfloat16ToFloat(((short[]) array)[i]);
            case INT16 -> ((short[]) array)[i];
            case INT64 -> ((long[]) array)[i];
            case INT32 -> ((int[]) array)[i];
            case INT8, BOOL -> ((byte[]) array)[i];
            case UINT8 -> ((byte[]) array)[i] & 0xff;
        };
    }

    public long getLong(int i) {
        return switch (dtype) {
            case INT64 -> ((long[]) array)[i];
            case INT32 -> ((int[]) array)[i];
            case INT16 -> ((short[]) array)[i];
            case INT8, BOOL -> ((byte[]) array)[i];
            case UINT8 -> ((byte[]) array)[i] & 0xff;
            default -> (long) getDouble(i);
        };
    }

    public void setDouble(int i, double v) {
        switch (dtype) {
            case FLOAT64 -> ((double[]) array)[i] = v;
            case FLOAT32 -> ((float[]) array)[i] = (float) v;
            case FLOAT16 -> ((short[]) array)[i] = HalfFloats.floatToHalf((float) v);
            case BFLOAT16 -> ((short[]) array)[i] = HalfFloats.floatToBfloat16((float) v);
            case BOOL -> ((byte[]) array)[i] = (byte) (v != 0 ? 1 : 0);
            default -> setLong(i, (long) v);
        }
    }

    public void setLong(int i, long v) {
        switch (dtype) {
            case INT64 -> ((long[]) array)[i] = v;
            case INT32 -> ((int[]) array)[i] = (int) v;
            case INT16 -> ((short[]) array)[i] = (short) v;
            case INT8, UINT8 -> ((byte[]) array)[i] = (byte) v;
            case BOOL -> ((byte[]) array)[i] = (byte) (v != 0 ? 1 : 0);
            default -> setDouble(i, v);
        }
    }

    /** Copies element {@code from} of {@code src} (same dtype) into element {@code to} of this. */
    void copyElement(HostStorage src, int from, int to) {
        System.arraycopy(src.array, from, array, to, 1);
    }
}
