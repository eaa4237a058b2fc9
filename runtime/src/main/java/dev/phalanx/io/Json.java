package dev.phalanx.io;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Every JSON file Phalanx reads or writes (safetensors headers, checkpoint state) goes through
 * Jackson with limits fit for untrusted input: a downloaded safetensors header must not be able
 * to overflow the stack with nested brackets, or make the parser buffer a huge string or number.
 * Duplicate keys and trailing content are errors. Errors are {@link IllegalArgumentException}s
 * with Jackson's description and the byte offset.
 */
public final class Json {

    /** Deeper than any header or state file Phalanx writes (they nest 3 levels). */
    public static final int MAX_NESTING_DEPTH = 64;
    /** A number longer than this is not a shape or an offset. */
    public static final int MAX_NUMBER_LENGTH = 64;
    /** One string (a tensor's name, a metadata value). */
    public static final int MAX_STRING_LENGTH = 1 << 20;

    private static final JsonFactory FACTORY = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxNestingDepth(MAX_NESTING_DEPTH)
                    .maxNumberLength(MAX_NUMBER_LENGTH)
                    .maxStringLength(MAX_STRING_LENGTH)
                    .build())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    /** Immutable once configured; shared because ObjectMapper is thread-safe for reading and writing. */
    private static final ObjectMapper MAPPER = new ObjectMapper(FACTORY)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .enable(DeserializationFeature.USE_LONG_FOR_INTS);

    private Json() { }

    /** Parses UTF-8 JSON from part of an array; refuses what breaks the limits above. */
    public static JsonNode parse(byte[] bytes, int offset, int length) {
        try {
            JsonNode node = MAPPER.readTree(bytes, offset, length);
            if (node == null || node.isMissingNode()) throw new IllegalArgumentException("invalid JSON: no content");
            return node;
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(describe(e), e);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("invalid JSON: " + e.getMessage(), e);
        }
    }

    public static JsonNode parse(String text) {
        byte[] b = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        return parse(b, 0, b.length);
    }

    /** A streaming parser with the same limits, for readers that must not build a tree (safetensors headers). */
    public static JsonParser parser(byte[] bytes, int offset, int length) {
        try {
            return FACTORY.createParser(bytes, offset, length);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("invalid JSON: " + e.getMessage(), e);
        }
    }

    /** An empty object to fill and {@link #write}. */
    public static ObjectNode object() {
        return MAPPER.createObjectNode();
    }

    /** Compact JSON of a tree, a map, a list or a scalar. */
    public static String write(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot write JSON: " + e.getOriginalMessage(), e);
        }
    }

    /** One line: what Jackson found wrong, and where (a byte offset). */
    public static String describe(JsonProcessingException e) {
        String what = e.getOriginalMessage();
        if (what == null) what = e.getClass().getSimpleName();
        int nl = what.indexOf('\n');
        if (nl >= 0) what = what.substring(0, nl);
        JsonLocation at = e.getLocation();
        long offset = at == null ? -1 : at.getByteOffset() >= 0 ? at.getByteOffset() : at.getCharOffset();
        return "invalid JSON" + (offset >= 0 ? " at byte " + offset : "") + ": " + what;
    }
}
