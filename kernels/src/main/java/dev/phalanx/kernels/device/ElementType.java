package dev.phalanx.kernels.device;

/**
 * The element types the dtype-generic kernels of dtypes.cu read and write, with the codes the
 * kernels take ({@code ET_*} there): what the kernels module knows of a tensor's dtype. float16
 * and bfloat16 are their 16-bit patterns, read and written through float with round to nearest
 * even (dtypes.cu's {@code et_half_to_float}, ...: the CPU's HalfFloats, bit for bit).
 */
public enum ElementType {
    F64(0, 8, true), F32(1, 4, true), I64(2, 8, false), I32(3, 4, false), I16(4, 2, false), I8(5, 1, false), U8(6, 1, false), BOOL(7, 1, false),
    F16(8, 2, true), BF16(9, 2, true);

    private final int code;
    private final int bytes;
    private final boolean floating;

    ElementType(int code, int bytes, boolean floating) {
        this.code = code;
        this.bytes = bytes;
        this.floating = floating;
    }

    /** The kernels' code for this type. */
    public int code() {
        return code;
    }

    /** Bytes per element. */
    public int bytes() {
        return bytes;
    }

    public boolean floating() {
        return floating;
    }

    static ElementType ofCode(int code) {
        for (ElementType t : values()) if (t.code == code) return t;
        throw new IllegalArgumentException("no element type has code " + code);
    }
}
