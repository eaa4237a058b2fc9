package dev.phalanx.kernels.device;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The small int32 tables the broadcasting kernels read (shapes and strides), in device memory once
 * per distinct table per device and reused after: a broadcast op copies nothing and waits for
 * nothing in the steady state, as the convolution algorithm cache spares cuDNN's search. A new
 * table is copied on its own stream, which the host waits for, so the table is complete before
 * any kernel that reads it is enqueued, on whatever stream. Tables live as long as their device's
 * {@link DeviceOps} (the process): a training loop has a handful of broadcast shapes (the last,
 * smaller batch adds a few), and each table is a few dozen bytes.
 */
final class ShapeTables {

    private final DeviceApi device;
    private final Map<Key, DeviceBuffer> tables = new HashMap<>();
    private Stream uploads;

    ShapeTables(DeviceApi device) {
        this.device = device;
    }

    private record Key(int[] values) {
        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && Arrays.equals(values, k.values);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(values);
        }
    }

    /** The device copy of {@code values}, uploaded on first use. */
    synchronized DeviceBuffer get(int[] values) {
        Key key = new Key(values.clone());
        DeviceBuffer table = tables.get(key);
        if (table != null) return table;
        long bytes = (long) Math.max(1, values.length) * Integer.BYTES;
        table = device.malloc(bytes);
        HostBuffer staging = device.mallocHost(bytes);
        try {
            staging.buffer().duplicate().order(java.nio.ByteOrder.LITTLE_ENDIAN).asIntBuffer().put(values);
            if (uploads == null) uploads = device.newStream();
            device.copyHostToDevice(staging, 0, table, bytes, uploads);
            device.synchronize(uploads);
        } finally {
            device.freeHost(staging);
        }
        tables.put(key, table);
        return table;
    }

    synchronized int size() {
        return tables.size();
    }
}
