package dev.phalanx.kernels.device;

import dev.phalanx.kernels.cpu.ConvGeometry;

/**
 * One device, as little as training needs of it. Two implementations: {@code CudaDevice} (CUDA
 * through JavaCPP) and {@link SimulatedDevice} (the CPU, with its own memory and a thread per
 * stream), so that everything above this interface runs in {@code mvn test}.
 *
 * <p>Every operation that takes a {@link Stream} is asynchronous: it is enqueued and returns.
 * Its results are visible to the host only after {@link #synchronize(Stream)} or
 * {@link #synchronize(Event)} on an event recorded after it, and to another stream only after
 * that stream waits for such an event. Errors of asynchronous work surface at the next
 * synchronisation. Buffers are raw, as the driver gives them; the {@link CachingAllocator} above
 * hands them out to tensors. Matrices are row-major float32, images NCHW.
 */
public interface DeviceApi extends AutoCloseable {

    /** {@code cuda:0}, {@code sim:0}. */
    String name();

    /** Free and total memory of the device. */
    MemoryInfo memoryInfo();

    // ---- memory

    /** Raw device memory; throws {@link DeviceOutOfMemoryError} when the device has none left. */
    DeviceBuffer malloc(long bytes);

    /** Returns memory from {@link #malloc}. Waits for nothing: the caller knows it is unused. */
    void free(DeviceBuffer buffer);

    /** Page-locked host memory for asynchronous copies. */
    HostBuffer mallocHost(long bytes);

    void freeHost(HostBuffer buffer);

    // ---- copies and fills (asynchronous)

    void copyHostToDevice(HostBuffer src, long srcOffset, DeviceBuffer dst, long bytes, Stream stream);

    void copyDeviceToHost(DeviceBuffer src, HostBuffer dst, long dstOffset, long bytes, Stream stream);

    void copyDeviceToDevice(DeviceBuffer src, DeviceBuffer dst, long bytes, Stream stream);

    /** Sets every byte of {@code buffer} to zero. */
    void fillZero(DeviceBuffer buffer, Stream stream);

    // ---- compute (asynchronous)

    /** Launches one of Phalanx's own kernels ({@link KernelCatalog}) by name; {@code args} are checked against its signature first. */
    void launch(Stream stream, String kernel, LaunchConfig config, KernelArgs args);

    /**
     * {@code C = alpha * op(A) op(B) + beta * C}, row-major: C is m x n, op(A) m x k, op(B) k x n;
     * A is stored m x k (k x m when transA), B k x n (n x k when transB). FP32 arithmetic.
     */
    void gemm(Stream stream, boolean transA, boolean transB, int m, int n, int k, float alpha, DeviceBuffer a, DeviceBuffer b,
              float beta, DeviceBuffer c);

    /** Picks the algorithm for one convolution shape (may run the convolution to time it: call once per shape, outside capture). */
    ConvAlgorithm findConvAlgorithm(ConvDirection direction, ConvGeometry g);

    /** y = conv(x, w), overwriting y. No bias (a kernel adds it). {@code workspace} holds at least {@code algorithm.workspaceBytes()}, or is null when that is 0. */
    void convForward(Stream stream, ConvGeometry g, ConvAlgorithm algorithm, DeviceBuffer x, DeviceBuffer w, DeviceBuffer y,
                     DeviceBuffer workspace);

    /** dx = the gradient of the convolution with respect to its input, overwriting dx. */
    void convBackwardData(Stream stream, ConvGeometry g, ConvAlgorithm algorithm, DeviceBuffer dy, DeviceBuffer w, DeviceBuffer dx,
                          DeviceBuffer workspace);

    /** dw = the gradient with respect to the filter, overwriting dw. */
    void convBackwardFilter(Stream stream, ConvGeometry g, ConvAlgorithm algorithm, DeviceBuffer x, DeviceBuffer dy, DeviceBuffer dw,
                            DeviceBuffer workspace);

    // ---- streams and events

    Stream newStream();

    Event newEvent();

    /** Marks the point in {@code stream} that {@code event} completes at; re-recording moves it. */
    void record(Event event, Stream stream);

    /** Work enqueued on {@code stream} after this waits until {@code event}'s recorded point has run. */
    void waitEvent(Stream stream, Event event);

    /** Blocks the host until everything enqueued on {@code stream} has run; rethrows its errors. */
    void synchronize(Stream stream);

    /** Blocks the host until {@code event}'s recorded point has run. */
    void synchronize(Event event);

    /** Whether {@code event}'s recorded point has run (an event never recorded has). */
    boolean isComplete(Event event);

    /**
     * An event that also keeps the device's clock at its recorded point, for {@link #elapsedMillis}
     * (CUDA: made without {@code cudaEventDisableTiming}, which {@link #newEvent} sets because
     * timing costs). For measuring where a step's device time goes, not for ordering work.
     */
    Event newTimingEvent();

    /**
     * Milliseconds of device time from {@code start}'s recorded point to {@code end}'s
     * ({@code cudaEventElapsedTime}): both made by {@link #newTimingEvent}, recorded, and complete
     * (an error names which is not). On the simulated device, the time between the two points on its
     * stream threads' clocks.
     */
    float elapsedMillis(Event start, Event end);

    /** {@link #elapsedMillis}'s first check, in each implementation: both events made by {@link #newTimingEvent}. */
    static void requireTimingEvents(String device, boolean startTimes, boolean endTimes) {
        if (!startTimes || !endTimes) {
            throw new IllegalArgumentException(device + ": elapsedMillis needs two events made by newTimingEvent (an ordering event keeps no time)");
        }
    }

    // ---- graphs

    /** From now on, work enqueued on {@code stream} is recorded instead of run. */
    void beginCapture(Stream stream);

    /** Ends the capture: the recorded work, ready to replay. */
    Graph endCapture(Stream stream);

    /**
     * Whether {@code stream} is capturing a graph now ({@code cudaStreamIsCapturing}): an op that
     * would copy from the host first asks (dropout making its generator's state on the device), since
     * a capture cannot hold that copy and a replay would not repeat it.
     */
    boolean isCapturing(Stream stream);

    /** Enqueues the whole captured work on {@code stream}, on the buffers it was captured with. */
    void replay(Graph graph, Stream stream);

    /** Releases the device's streams, handles and memory. */
    @Override
    void close();
}
