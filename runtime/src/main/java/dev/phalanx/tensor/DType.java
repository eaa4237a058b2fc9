package dev.phalanx.tensor;

/**
 * Element types, PyTorch's names and safetensors' codes. Each knows its size and its
 * {@link Category} (bool &lt; integer &lt; floating), which is all type promotion needs.
 * float16 and bfloat16 are storage formats: their arithmetic runs in float32 and is rounded back.
 */
public enum DType {
    FLOAT64("torch.float64", "F64", 8, Category.FLOATING),
    FLOAT32("torch.float32", "F32", 4, Category.FLOATING),
    FLOAT16("torch.float16", "F16", 2, Category.FLOATING),
    BFLOAT16("torch.bfloat16", "BF16", 2, Category.FLOATING),
    INT64("torch.int64", "I64", 8, Category.INTEGER),
    INT32("torch.int32", "I32", 4, Category.INTEGER),
    INT16("torch.int16", "I16", 2, Category.INTEGER),
    INT8("torch.int8", "I8", 1, Category.INTEGER),
    UINT8("torch.uint8", "U8", 1, Category.INTEGER),
    BOOL("torch.bool", "BOOL", 1, Category.BOOL);

    /** PyTorch's default floating dtype: what a Java {@code float} or {@code double} scalar counts as, and what int / int gives. */
    public static final DType DEFAULT_FLOAT = FLOAT32;

    /** The kinds type promotion ranks: a higher category always wins. */
    public enum Category { BOOL, INTEGER, FLOATING }

    private final String torchName;
    private final String safetensorsName;
    private final int bytes;
    private final Category category;

    DType(String torchName, String safetensorsName, int bytes, Category category) {
        this.torchName = torchName;
        this.safetensorsName = safetensorsName;
        this.bytes = bytes;
        this.category = category;
    }

    public String torchName() { return torchName; }
    public String safetensorsName() { return safetensorsName; }
    public int bytes() { return bytes; }
    public Category category() { return category; }
    public boolean isFloatingPoint() { return category == Category.FLOATING; }
    /** Integer types, bool excluded. */
    public boolean isInteger() { return category == Category.INTEGER; }

    /** ATen's name for the scalar type, as PyTorch's casting errors print it ({@code Float}, {@code Long}). */
    public String scalarTypeName() {
        return switch (this) {
            case FLOAT64 -> "Double";
            case FLOAT32 -> "Float";
            case FLOAT16 -> "Half";
            case BFLOAT16 -> "BFloat16";
            case INT64 -> "Long";
            case INT32 -> "Int";
            case INT16 -> "Short";
            case INT8 -> "Char";
            case UINT8 -> "Byte";
            case BOOL -> "Bool";
        };
    }

    /** PyTorch's {@code can_cast}: an in-place op may store a result of type {@code from} into {@code to} (no float into an integer, nothing into bool). */
    public static boolean canCast(DType from, DType to) {
        if (from.isFloatingPoint() && !to.isFloatingPoint()) return false;
        return from == BOOL || to != BOOL;
    }

    @Override
    public String toString() {
        return torchName;
    }

    public static DType fromSafetensors(String name) {
        for (DType d : values()) if (d.safetensorsName.equals(name)) return d;
        throw new IllegalArgumentException("unsupported safetensors dtype '" + name
                + "' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    }

    /**
     * PyTorch's {@code torch.promote_types(a, b)}: the smallest type both convert to without
     * losing their category. uint8 with int8 gives int16; float16 with bfloat16 gives float32.
     */
    public static DType promote(DType a, DType b) {
        if (a == b) return a;
        if (a == BOOL) return b;
        if (b == BOOL) return a;
        if (a.category != b.category) return a.category.compareTo(b.category) > 0 ? a : b;
        if (a.isFloatingPoint()) {
            if (a.bytes == b.bytes) return FLOAT32; // float16 with bfloat16
            return a.bytes > b.bytes ? a : b;
        }
        if (a == UINT8 || b == UINT8) {
            DType signed = a == UINT8 ? b : a;
            return signed == INT8 ? INT16 : signed;
        }
        return a.bytes > b.bytes ? a : b;
    }

    /**
     * PyTorch's {@code result_type} for two operands: tensors with dimensions decide over
     * zero-dimensional ones, unless the zero-dimensional one is of a higher category.
     */
    public static DType resultType(Tensor a, Tensor b) {
        boolean aDim = a.dim() > 0, bDim = b.dim() > 0;
        if (aDim == bDim) return promote(a.dtype(), b.dtype());
        return combineCategories(aDim ? a.dtype() : b.dtype(), aDim ? b.dtype() : a.dtype());
    }

    /**
     * The dtype of {@code tensor op scalar} for a Java scalar: a {@code float}/{@code double}
     * counts as {@link #DEFAULT_FLOAT}, a {@code long}/{@code int} as int64, a {@code boolean} as
     * bool, and they only change the tensor's dtype when their category is higher.
     */
    public static DType resultType(DType tensor, Category scalar) {
        DType wrapped = scalar == Category.FLOATING ? DEFAULT_FLOAT : scalar == Category.INTEGER ? INT64 : BOOL;
        return combineCategories(tensor, wrapped);
    }

    /** c10's combine_categories: the higher-priority operand's dtype, unless the other's category is higher. */
    private static DType combineCategories(DType higher, DType lower) {
        if (higher.isFloatingPoint()) return higher;
        if (higher == BOOL || lower.isFloatingPoint()) return promote(higher, lower);
        return higher;
    }
}
