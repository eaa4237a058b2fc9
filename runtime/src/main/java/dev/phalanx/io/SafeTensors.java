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

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/**
 * The safetensors format, read and written: {@code [u64 LE header length N][N bytes of JSON
 * header][data]}, the header mapping each name to dtype, shape and byte offsets. PyTorch and
 * Hugging Face tools read what this writes.
 */
public final class SafeTensors {

    /** A header larger than this is treated as corruption rather than allocated (the reference implementation's limit). */
    public static final long MAX_HEADER = 100L << 20;
    /** The largest file read: one Java array holds it, and no tensor may need more elements than an array has. */
    public static final long MAX_FILE = Integer.MAX_VALUE - 8;
    /** More dimensions than any model uses; bounds what a header can make the reader allocate. */
    public static final int MAX_RANK = 32;

    private SafeTensors() { }

    /** Tensors in file order, and the {@code __metadata__} strings. */
    public record Contents(Map<String, Tensor> tensors, Map<String, String> metadata) { }

    /** One header entry, checked on its own; {@link #parse} then checks that the entries tile the data. */
    private record Entry(String name, DType dtype, int[] shape, long begin, long end) { }

    /**
     * Reads a file. Anything wrong with its contents is an {@link IllegalArgumentException} whose
     * one-line message names the file and the fault; a file too large for one Java array, or for
     * the heap, is refused the same way instead of ending in an {@link OutOfMemoryError}.
     */
    public static Contents read(Path file) throws IOException {
        long size;
        try {
            size = Files.size(file);
        } catch (NoSuchFileException e) {
            throw new NoSuchFileException(file.toString(), null, "safetensors file not found");
        }
        if (size > MAX_FILE) {
            throw corrupt(file.toString(), String.format(java.util.Locale.ROOT, "the file is %,d bytes; Phalanx reads safetensors files of up to %,d bytes "
                    + "(2 GiB): split the weights into several files", size, MAX_FILE));
        }
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (OutOfMemoryError e) {
            throw corrupt(file.toString(), String.format(java.util.Locale.ROOT, "the file is %,d bytes and does not fit the Java heap (%,d bytes at most): "
                    + "give the JVM more memory (-Xmx)", size, Runtime.getRuntime().maxMemory()));
        }
        return parse(bytes, file.toString());
    }

    public static Contents parse(byte[] bytes, String source) {
        if (bytes.length < 8) throw corrupt(source, "file is " + bytes.length + " bytes, shorter than the 8-byte header length");
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long n = buf.getLong(0);
        if (n < 2 || n > MAX_HEADER || 8 + n > bytes.length) {
            throw corrupt(source, "header length " + n + " does not fit a file of " + bytes.length + " bytes (truncated or not safetensors)"
                    + (n > MAX_HEADER && 8 + n <= bytes.length ? "; headers over " + MAX_HEADER + " bytes are refused" : ""));
        }
        int dataStart = (int) (8 + n);
        long dataLength = bytes.length - dataStart;
        List<Entry> entries = new ArrayList<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        try (JsonParser p = Json.parser(bytes, 8, (int) n)) {
            if (p.nextToken() != JsonToken.START_OBJECT) throw corrupt(source, "header is not a JSON object");
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                if (p.nextToken() != JsonToken.START_OBJECT) {
                    throw corrupt(source, name.equals("__metadata__") ? "'__metadata__' is not an object" : "entry '" + name + "' is not an object");
                }
                if (name.equals("__metadata__")) readMetadata(p, source, metadata);
                else entries.add(readEntry(p, source, name, dataLength));
            }
            if (p.currentToken() != JsonToken.END_OBJECT || p.nextToken() != null) throw corrupt(source, "header is not valid JSON: content after the object");
        } catch (JsonProcessingException e) {
            throw corrupt(source, "header is not valid JSON: " + Json.describe(e));
        } catch (IOException e) {
            throw corrupt(source, "header is not valid JSON: " + e.getMessage());
        }
        checkTiling(source, entries, dataLength);
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Entry e : entries) {
            int numel = (int) ((e.end() - e.begin()) / e.dtype().bytes());
            ByteBuffer slice = ByteBuffer.wrap(bytes, dataStart + (int) e.begin(), (int) (e.end() - e.begin())).slice().order(ByteOrder.LITTLE_ENDIAN);
            tensors.put(e.name(), Tensor.of(e.dtype(), elements(e.dtype(), slice, numel), e.shape()));
        }
        return new Contents(tensors, metadata);
    }

    private static void readMetadata(JsonParser p, String source, Map<String, String> metadata) throws IOException {
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String key = p.currentName();
            JsonToken t = p.nextToken();
            if (!t.isScalarValue()) throw corrupt(source, "'__metadata__' entry '" + key + "' is not a string");
            metadata.put(key, p.getText());
        }
    }

    private static Entry readEntry(JsonParser p, String source, String name, long dataLength) throws IOException {
        String dtypeName = null;
        long[] shape = null, offsets = null;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            JsonToken t = p.nextToken();
            switch (field) {
                case "dtype" -> {
                    if (t != JsonToken.VALUE_STRING) throw corrupt(source, "tensor '" + name + "': 'dtype' is not a string");
                    dtypeName = p.getText();
                }
                case "shape" -> shape = longs(p, source, name, field, MAX_RANK);
                case "data_offsets" -> offsets = longs(p, source, name, field, 2);
                default -> p.skipChildren(); // the format allows other keys; they carry nothing Phalanx uses
            }
        }
        DType dtype;
        try {
            dtype = DType.fromSafetensors(String.valueOf(dtypeName));
        } catch (IllegalArgumentException ex) {
            throw corrupt(source, "tensor '" + name + "': " + ex.getMessage());
        }
        if (shape == null) throw corrupt(source, "tensor '" + name + "': 'shape' is missing or not a list");
        if (offsets == null) throw corrupt(source, "tensor '" + name + "': 'data_offsets' is missing or not a list");
        if (offsets.length != 2 || offsets[1] < offsets[0] || offsets[1] > dataLength) {
            throw corrupt(source, "tensor '" + name + "': data_offsets " + java.util.Arrays.toString(offsets) + " lie outside the "
                    + dataLength + " data bytes (truncated file?)");
        }
        // the element count, without overflow: a shape may not ask for more bytes than the file holds
        long numel = 1;
        for (long d : shape) {
            if (d > 0 && numel > MAX_FILE / d) {
                throw corrupt(source, "tensor '" + name + "': shape " + java.util.Arrays.toString(shape) + " has more elements than a file of "
                        + MAX_FILE + " bytes can hold");
            }
            numel *= d;
        }
        int[] dims = new int[shape.length];
        for (int i = 0; i < dims.length; i++) dims[i] = (int) shape[i];
        if (numel * dtype.bytes() != offsets[1] - offsets[0]) {
            throw corrupt(source, "tensor '" + name + "': shape " + Shapes.str(dims) + " of " + dtype.safetensorsName() + " needs "
                    + numel * dtype.bytes() + " bytes but data_offsets span " + (offsets[1] - offsets[0]));
        }
        return new Entry(name, dtype, dims, offsets[0], offsets[1]);
    }

    /** The tensors' byte ranges, in offset order, must cover the data exactly: no overlap, no gap, nothing after the last. */
    private static void checkTiling(String source, List<Entry> entries, long dataLength) {
        List<Entry> sorted = new ArrayList<>(entries);
        sorted.sort(java.util.Comparator.comparingLong(Entry::begin).thenComparingLong(Entry::end));
        long at = 0;
        Entry previous = null;
        for (Entry e : sorted) {
            if (e.begin() < at) {
                throw corrupt(source, "tensors '" + previous.name() + "' " + range(previous) + " and '" + e.name() + "' " + range(e)
                        + " overlap in the data");
            }
            if (e.begin() > at) {
                throw corrupt(source, "bytes [" + at + ", " + e.begin() + ") of the data belong to no tensor (a gap before '" + e.name() + "')");
            }
            at = e.end();
            previous = e;
        }
        if (at != dataLength) {
            throw corrupt(source, "bytes [" + at + ", " + dataLength + ") at the end of the data belong to no tensor");
        }
    }

    private static String range(Entry e) {
        return "[" + e.begin() + ", " + e.end() + ")";
    }

    private static long[] longs(JsonParser p, String source, String name, String field, int maxLength) throws IOException {
        if (p.currentToken() != JsonToken.START_ARRAY) {
            p.skipChildren();
            throw corrupt(source, "tensor '" + name + "': '" + field + "' is missing or not a list");
        }
        long[] out = new long[maxLength];
        int count = 0;
        for (JsonToken t = p.nextToken(); t != JsonToken.END_ARRAY; t = p.nextToken()) {
            boolean ok = t == JsonToken.VALUE_NUMBER_INT && p.getNumberType() != JsonParser.NumberType.BIG_INTEGER
                    && p.getLongValue() >= 0 && p.getLongValue() <= Integer.MAX_VALUE;
            if (!ok) throw corrupt(source, "tensor '" + name + "': '" + field + "' holds " + p.getText() + ", not a non-negative integer");
            if (count == maxLength) {
                throw corrupt(source, "tensor '" + name + "': '" + field + "' has more than " + maxLength + " values");
            }
            out[count++] = p.getLongValue();
        }
        return java.util.Arrays.copyOf(out, count);
    }

    private static IllegalArgumentException corrupt(String source, String what) {
        return new IllegalArgumentException(source + ": not a valid safetensors file: " + what);
    }

    /** The file's bytes for these tensors, in map order. */
    public static byte[] serialize(Map<String, Tensor> tensors, Map<String, String> metadata) {
        ObjectNode header = Json.object();
        if (metadata != null && !metadata.isEmpty()) {
            ObjectNode meta = header.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (var e : tensors.entrySet()) {
            Tensor t = e.getValue();
            long size = (long) t.numel() * t.dtype().bytes();
            ObjectNode info = header.putObject(e.getKey());
            info.put("dtype", t.dtype().safetensorsName());
            ArrayNode shape = info.putArray("shape");
            for (int d : t.shape()) shape.add(d);
            info.putArray("data_offsets").add(offset).add(offset + size);
            offset += size;
        }
        byte[] json = Json.write(header).getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8; // the format asks for 8-byte alignment of the data
        if (offset + 8 + padded > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("safetensors: more than 2 GiB of tensors in one file");
        ByteBuffer buf = ByteBuffer.allocate((int) (8 + padded + offset)).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(padded);
        buf.put(json);
        for (int i = json.length; i < padded; i++) buf.put((byte) ' ');
        for (Tensor t : tensors.values()) putElements(buf, t);
        return buf.array();
    }

    /** Little-endian bytes to the Java array that holds {@code dtype} (see {@link dev.phalanx.tensor.HostStorage}). */
    private static Object elements(DType dtype, ByteBuffer le, int numel) {
        switch (dtype) {
            case FLOAT64: { double[] d = new double[numel]; le.asDoubleBuffer().get(d); return d; }
            case FLOAT32: { float[] d = new float[numel]; le.asFloatBuffer().get(d); return d; }
            case INT64: { long[] d = new long[numel]; le.asLongBuffer().get(d); return d; }
            case INT32: { int[] d = new int[numel]; le.asIntBuffer().get(d); return d; }
            case FLOAT16: case BFLOAT16: case INT16: { short[] d = new short[numel]; le.asShortBuffer().get(d); return d; }
            default: { // int8, uint8, bool: one byte each
                byte[] d = new byte[numel];
                le.get(d);
                if (dtype == DType.BOOL) for (int i = 0; i < numel; i++) d[i] = (byte) (d[i] != 0 ? 1 : 0);
                return d;
            }
        }
    }

    /** Appends t's elements, row-major and little-endian, and advances buf past them. */
    private static void putElements(ByteBuffer buf, Tensor t) {
        Tensor c = t.detach().to(dev.phalanx.kernels.Device.CPU).contiguous(); // a device tensor is saved from a host copy
        Object a = c.storageOffset() == 0 && c.numel() == c.storage().length() ? ((dev.phalanx.tensor.HostStorage) c.storage()).array()
                : ((dev.phalanx.tensor.HostStorage) c.clone().storage()).array();
        int n = t.numel();
        switch (t.dtype()) {
            case FLOAT64: buf.asDoubleBuffer().put((double[]) a, 0, n); break;
            case FLOAT32: buf.asFloatBuffer().put((float[]) a, 0, n); break;
            case INT64: buf.asLongBuffer().put((long[]) a, 0, n); break;
            case INT32: buf.asIntBuffer().put((int[]) a, 0, n); break;
            case FLOAT16: case BFLOAT16: case INT16: buf.asShortBuffer().put((short[]) a, 0, n); break;
            default: buf.put((byte[]) a, 0, n); return; // put(byte[]) advances the position itself
        }
        buf.position(buf.position() + n * t.dtype().bytes());
    }

    /** Writes atomically: a crash leaves the previous file or the new one, never a torn one. */
    public static void write(Path file, Map<String, Tensor> tensors, Map<String, String> metadata) throws IOException {
        AtomicFiles.writeBytes(file, serialize(tensors, metadata));
    }
}
