package dev.phalanx.kernels.device;

/**
 * The element types the dtype-generic kernels of dtypes.cu read and write, with the codes the
 * kernels take ({@code ET_*} there): what the kernels module knows of a tensor's dtype. float16
 * and bfloat16 have no device kernels and no code.
 */
public enum ElementType {
    F64(0, 8, true), F32(1, 4, true), I64(2, 8, false), I32(3, 4, false), I16(4, 2, false), I8(5, 1, false), U8(6, 1, false), BOOL(7, 1, false);

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
