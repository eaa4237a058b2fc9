package dev.phalanx.tensor;

/** Element types: float32 for data and parameters, int64 for labels and indices. */
public enum DType {
    FLOAT32("torch.float32", "F32", 4),
    INT64("torch.int64", "I64", 8);

    private final String torchName;
    private final String safetensorsName;
    private final int bytes;

    DType(String torchName, String safetensorsName, int bytes) {
        this.torchName = torchName;
        this.safetensorsName = safetensorsName;
        this.bytes = bytes;
    }

    public String torchName() { return torchName; }
    public String safetensorsName() { return safetensorsName; }
    public int bytes() { return bytes; }

    public static DType fromSafetensors(String name) {
        for (DType d : values()) if (d.safetensorsName.equals(name)) return d;
        throw new IllegalArgumentException("unsupported safetensors dtype '" + name + "' (supported: F32, I64)");
    }
}
