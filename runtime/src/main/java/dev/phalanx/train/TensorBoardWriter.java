package dev.phalanx.train;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.zip.CRC32C;

import dev.phalanx.protocol.tensorboard.Event;
import dev.phalanx.protocol.tensorboard.Summary;

/**
 * Scalars in TensorBoard's event-file format: TFRecord framing (u64 length, masked CRC-32C of
 * the length, the Event proto, masked CRC-32C of the data), the first record holding the file
 * version {@code brain.Event:2}.
 */
public final class TensorBoardWriter implements AutoCloseable {

    private final OutputStream out;
    private final Path file;

    public TensorBoardWriter(Path dir) throws IOException {
        Files.createDirectories(dir);
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "localhost";
        }
        long now = System.currentTimeMillis();
        this.file = dir.resolve("events.out.tfevents." + now / 1000 + "." + host + "." + ProcessHandle.current().pid());
        this.out = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        write(Event.newBuilder().setWallTime(now / 1000.0).setFileVersion("brain.Event:2").build());
    }

    public Path file() {
        return file;
    }

    public void scalar(String tag, long step, double value) throws IOException {
        write(Event.newBuilder().setWallTime(System.currentTimeMillis() / 1000.0).setStep(step)
                .setSummary(Summary.newBuilder().addValue(Summary.Value.newBuilder().setTag(tag).setSimpleValue((float) value))).build());
    }

    private void write(Event e) throws IOException {
        byte[] data = e.toByteArray();
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(data.length);
        ByteBuffer rec = ByteBuffer.allocate(8 + 4 + data.length + 4).order(ByteOrder.LITTLE_ENDIAN);
        rec.put(len.array()).putInt(maskedCrc(len.array())).put(data).putInt(maskedCrc(data));
        out.write(rec.array());
        out.flush();
    }

    /** TFRecord's masked CRC-32C: rotate right by 15 and add a constant. */
    public static int maskedCrc(byte[] data) {
        CRC32C crc = new CRC32C();
        crc.update(data);
        int c = (int) crc.getValue();
        return ((c >>> 15) | (c << 17)) + 0xa282ead8;
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
