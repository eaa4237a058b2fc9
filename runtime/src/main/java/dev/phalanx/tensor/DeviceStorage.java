package dev.phalanx.tensor;

import java.lang.ref.Cleaner;
import java.nio.ByteBuffer;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.device.CachingAllocator;
import dev.phalanx.kernels.device.DeviceApi;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.DeviceOutOfMemoryError;
import dev.phalanx.kernels.device.Event;
import dev.phalanx.kernels.device.Stream;

/**
 * Device memory behind tensors on {@code cuda:N} or {@code sim:N}: an opaque {@link DeviceBuffer}
 * from the device's caching allocator, and the stream it was last used on. No Java array exists:
 * reading the elements takes a copy to the host ({@link #download()}).
 *
 * <p>Streams: the block is handed out for the stream that first writes it. A use on another
 * stream ({@link #use(Stream)}) makes that stream wait for an event recorded on the last one, and
 * tells the allocator (so the block is not reused before that work is done), as PyTorch's
 * {@code record_stream} does. The block goes back to the allocator when the storage is garbage
 * collected (a {@link Cleaner}); the allocator reuses it only in the order of its stream, so work
 * still queued on it is safe.
 */
public final class DeviceStorage implements Storage {

    /** How many garbage collections an allocation that finds the device full runs before it fails. */
    static final int OOM_COLLECTIONS = 10;
    /** How long after each of them the cleaner gets to return the blocks it found. */
    static final long OOM_WAIT_MILLIS = 20;

    /** One daemon thread for the process, returning unreachable device storages' blocks to their allocators. */
    private static final Cleaner CLEANER = Cleaner.create();

    private final DeviceContext context;
    private final DType dtype;
    private final int length;
    private final DeviceBuffer buffer;
    private Stream stream;
    private int version;
    /** How many times the elements were copied to the host: what a test reads to show an op ran without a read-back. */
    private final java.util.concurrent.atomic.AtomicInteger hostCopies = new java.util.concurrent.atomic.AtomicInteger();

    private DeviceStorage(DeviceContext context, DType dtype, int length, DeviceBuffer buffer, Stream stream) {
        this.context = context;
        this.dtype = dtype;
        this.length = length;
        this.buffer = buffer;
        this.stream = stream;
        CachingAllocator allocator = context.allocator();
        CLEANER.register(this, () -> allocator.free(buffer)); // captures neither this nor the tensor
    }

    /** {@code n} elements of uninitialised device memory, for work on {@code stream}. */
    static DeviceStorage allocate(DeviceContext context, DType dtype, int n, Stream stream) {
        long bytes = (long) n * dtype.bytes();
        for (int attempt = 1; ; attempt++) {
            try {
                return new DeviceStorage(context, dtype, n, context.allocator().allocate(bytes, stream), stream);
            } catch (DeviceOutOfMemoryError e) {
                // blocks come back when their tensors are collected (Java has no reference counts): run the collector, give
                // the cleaner a moment to return what it found, and try again; the allocator's own error after that is the answer
                if (attempt > OOM_COLLECTIONS) throw e;
                System.gc();
                try {
                    Thread.sleep(OOM_WAIT_MILLIS);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw e;
                }
            }
        }
    }

    /** A device copy of {@code host}'s elements, copied on the context's copy stream; returns when the copy is done. */
    static DeviceStorage upload(DeviceContext context, HostStorage host) {
        Stream copies = context.copyStream();
        DeviceStorage d = allocate(context, host.dtype(), host.length(), copies);
        long bytes = d.bytes();
        if (bytes == 0) return d;
        DeviceApi api = context.api();
        return context.withStaging(bytes, staging -> {
            put(staging.buffer(), host);
            api.copyHostToDevice(staging, 0, d.buffer, bytes, copies);
            api.synchronize(copies);
            return d;
        });
    }

    /** A host copy of every element, read on the context's copy stream after the work that last used this storage. */
    HostStorage download() {
        return download(true);
    }

    /**
     * As {@link #download()}; with {@code orderAfterLastUse} false the copy does not wait for the
     * stream that last used this storage: the missing synchronisation, for the test that shows
     * the simulated device catches it. Nothing else passes false.
     */
    HostStorage download(boolean orderAfterLastUse) {
        hostCopies.incrementAndGet();
        HostStorage out = HostStorage.allocate(dtype, length);
        long bytes = bytes();
        if (bytes == 0) return out;
        DeviceApi api = context.api();
        Stream copies = context.copyStream();
        DeviceBuffer src = orderAfterLastUse ? use(copies) : buffer;
        return context.withStaging(bytes, staging -> {
            api.copyDeviceToHost(src, staging, 0, bytes, copies);
            api.synchronize(copies);
            get(staging.buffer(), out);
            return out;
        });
    }

    /**
     * The buffer, for work about to be enqueued on {@code s}: when the storage was last used on
     * another stream, {@code s} first waits for everything enqueued there so far.
     */
    public synchronized DeviceBuffer use(Stream s) {
        if (s != stream) {
            DeviceApi api = context.api();
            Event done = api.newEvent();
            api.record(done, stream);
            api.waitEvent(s, done);
            done.close(); // the wait keeps what it needs, as cudaStreamWaitEvent does: the event may go now
            context.allocator().recordStream(buffer, s);
            stream = s;
        }
        return buffer;
    }

    /** How many host copies of this storage were taken ({@code to(cpu)}, {@code item()}, {@code toString()}, a cpu op's read). */
    public int hostCopies() {
        return hostCopies.get();
    }

    /** The stream this storage was last used on. */
    public synchronized Stream stream() {
        return stream;
    }

    public Device device() {
        return context.device();
    }

    public DeviceContext context() {
        return context;
    }

    long bytes() {
        return (long) length * dtype.bytes();
    }

    @Override public DType dtype() { return dtype; }
    @Override public int length() { return length; }
    @Override public int version() { return version; }
    @Override public void bumpVersion() { version++; }

    @Override
    public String toString() {
        return "DeviceStorage[" + device() + ", " + dtype.torchName() + " x " + length + "]";
    }

    // ---- the bytes of a host array, little-endian as devices keep them

    private static void put(ByteBuffer b, HostStorage h) {
        ByteBuffer d = b.duplicate().order(b.order());
        switch (h.dtype()) {
            case FLOAT64 -> d.asDoubleBuffer().put(h.doubles());
            case FLOAT32 -> d.asFloatBuffer().put(h.floats());
            case FLOAT16, BFLOAT16, INT16 -> d.asShortBuffer().put(h.shorts());
            case INT64 -> d.asLongBuffer().put(h.longs());
            case INT32 -> d.asIntBuffer().put(h.ints());
            case INT8, UINT8, BOOL -> d.put(h.bytes());
        }
    }

    private static void get(ByteBuffer b, HostStorage h) {
        ByteBuffer d = b.duplicate().order(b.order());
        switch (h.dtype()) {
            case FLOAT64 -> d.asDoubleBuffer().get(h.doubles());
            case FLOAT32 -> d.asFloatBuffer().get(h.floats());
            case FLOAT16, BFLOAT16, INT16 -> d.asShortBuffer().get(h.shorts());
            case INT64 -> d.asLongBuffer().get(h.longs());
            case INT32 -> d.asIntBuffer().get(h.ints());
            case INT8, UINT8, BOOL -> d.get(h.bytes());
        }
    }
}
