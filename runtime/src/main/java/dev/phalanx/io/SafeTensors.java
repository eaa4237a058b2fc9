package dev.phalanx.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/**
 * The safetensors format, read and written: {@code [u64 LE header length N][N bytes of JSON
 * header][data]}, the header mapping each name to dtype, shape and byte offsets. PyTorch and
 * Hugging Face tools read what this writes.
 */
public final class SafeTensors {

    /** Header larger than this is treated as corruption rather than allocated. */
    private static final long MAX_HEADER = 100L << 20;

    private SafeTensors() { }

    /** Tensors in file order, and the {@code __metadata__} strings. */
    public record Contents(Map<String, Tensor> tensors, Map<String, String> metadata) { }

    public static Contents read(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(file.toString(), null, "safetensors file not found");
        }
        return parse(bytes, file.toString());
    }

    public static Contents parse(byte[] bytes, String source) {
        if (bytes.length < 8) throw corrupt(source, "file is " + bytes.length + " bytes, shorter than the 8-byte header length");
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = buf.getLong(0);
        if (n < 2 || n > MAX_HEADER || 8 + n > bytes.length) {
            throw corrupt(source, "header length " + n + " does not fit a file of " + bytes.length + " bytes (truncated or not safetensors)");
        }
        Object parsed;
        try {
            parsed = Json.parse(new String(bytes, 8, (int) n, StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
            throw corrupt(source, "header is not valid JSON: " + e.getMessage());
        }
        if (!(parsed instanceof Map<?, ?> header)) throw corrupt(source, "header is not a JSON object");
        int dataStart = (int) (8 + n);
        long dataLength = bytes.length - dataStart;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (var e : header.entrySet()) {
            String name = (String) e.getKey();
            if (name.equals("__metadata__")) {
                if (e.getValue() instanceof Map<?, ?> meta) meta.forEach((k, v) -> metadata.put(String.valueOf(k), String.valueOf(v)));
                continue;
            }
            if (!(e.getValue() instanceof Map<?, ?> info)) throw corrupt(source, "entry '" + name + "' is not an object");
            DType dtype;
            try {
                dtype = DType.fromSafetensors(String.valueOf(info.get("dtype")));
            } catch (IllegalArgumentException ex) {
                throw corrupt(source, "tensor '" + name + "': " + ex.getMessage());
            }
            int[] shape = ints(source, name, "shape", info.get("shape"));
            int[] offsets = ints(source, name, "data_offsets", info.get("data_offsets"));
            if (offsets.length != 2 || offsets[0] < 0 || offsets[1] < offsets[0] || offsets[1] > dataLength) {
                throw corrupt(source, "tensor '" + name + "': data_offsets " + java.util.Arrays.toString(offsets) + " lie outside the "
                        + dataLength + " data bytes (truncated file?)");
            }
            int numel = Shapes.numel(shape);
            if ((long) numel * dtype.bytes() != offsets[1] - offsets[0]) {
                throw corrupt(source, "tensor '" + name + "': shape " + Shapes.str(shape) + " of " + dtype.safetensorsName() + " needs "
                        + (long) numel * dtype.bytes() + " bytes but data_offsets span " + (offsets[1] - offsets[0]));
            }
            ByteBuffer slice = ByteBuffer.wrap(bytes, dataStart + offsets[0], offsets[1] - offsets[0]).slice().order(ByteOrder.LITTLE_ENDIAN);
            if (dtype == DType.FLOAT32) {
                float[] d = new float[numel];
                slice.asFloatBuffer().get(d);
                tensors.put(name, Tensor.of(d, shape));
            } else {
                long[] d = new long[numel];
                slice.asLongBuffer().get(d);
                tensors.put(name, Tensor.ofLongs(d, shape));
            }
        }
        return new Contents(tensors, metadata);
    }

    private static int[] ints(String source, String name, String field, Object v) {
        if (!(v instanceof List<?> list)) throw corrupt(source, "tensor '" + name + "': '" + field + "' is missing or not a list");
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            if (!(list.get(i) instanceof Long l) || l < 0 || l > Integer.MAX_VALUE) {
                throw corrupt(source, "tensor '" + name + "': '" + field + "' holds " + list.get(i) + ", not a non-negative integer");
            }
            out[i] = (int) (long) l;
        }
        return out;
    }

    private static IllegalArgumentException corrupt(String source, String what) {
        return new IllegalArgumentException(source + ": not a valid safetensors file: " + what);
    }

    /** The file's bytes for these tensors, in map order. */
    public static byte[] serialize(Map<String, Tensor> tensors, Map<String, String> metadata) {
        Map<String, Object> header = new LinkedHashMap<>();
        if (metadata != null && !metadata.isEmpty()) header.put("__metadata__", new LinkedHashMap<>(metadata));
        long offset = 0;
        for (var e : tensors.entrySet()) {
            Tensor t = e.getValue();
            long size = (long) t.numel() * t.dtype().bytes();
            Map<String, Object> info = new LinkedHashMap<>();
            info.put("dtype", t.dtype().safetensorsName());
            List<Object> shape = new ArrayList<>();
            for (int d : t.shape()) shape.add((long) d);
            info.put("shape", shape);
            info.put("data_offsets", List.of(offset, offset + size));
            header.put(e.getKey(), info);
            offset += size;
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8; // the format asks for 8-byte alignment of the data
        if (offset + 8 + padded > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("safetensors: more than 2 GiB of tensors in one file");
        ByteBuffer buf = ByteBuffer.allocate((int) (8 + padded + offset)).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(padded);
        buf.put(json);
        for (int i = json.length; i < padded; i++) buf.put((byte) ' ');
        for (Tensor t : tensors.values()) {
            if (t.dtype() == DType.FLOAT32) {
                buf.asFloatBuffer().put(t.contiguousFloats());
                buf.position(buf.position() + t.numel() * 4);
            } else {
                buf.asLongBuffer().put(t.contiguousLongs());
                buf.position(buf.position() + t.numel() * 8);
            }
        }
        return buf.array();
    }

    /** Writes atomically: a crash leaves the previous file or the new one, never a torn one. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        AtomicFiles.writeBytes(file, serialize(tensors, metadata));
    }
}
