package dev.phalanx.parallel;

import java.util.zip.CRC32C;

import dev.phalanx.tensor.Tensor;

/** A CRC-32C over the exact bits of every parameter (a host copy of those on a device): equal only if replicas are bit-identical. */
public final class ParameterChecksum {

    private ParameterChecksum() { }

    public static long of(Iterable<Tensor> params) {
        CRC32C crc = new CRC32C();
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(4096);
        for (Tensor p : params) {
            float[] values = p.device().isCpu() ? p.data() : p.detach().to(dev.phalanx.kernels.Device.CPU).data();
            for (float v : values) {
                if (!buf.hasRemaining()) {
                    crc.update(buf.array(), 0, buf.position());
                    buf.clear();
                }
                buf.putInt(Float.floatToRawIntBits(v));
            }
        }
        crc.update(buf.array(), 0, buf.position());
        return crc.getValue();
    }
}
