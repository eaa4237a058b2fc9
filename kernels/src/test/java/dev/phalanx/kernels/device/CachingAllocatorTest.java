package dev.phalanx.kernels.device;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.cpu.ConvGeometry;

/** The caching allocator's bookkeeping, and the convolution algorithm cache, on the simulated device. */
class CachingAllocatorTest {

    private final SimulatedDevice device = new SimulatedDevice(0, SimulatedDevice.Options.defaults().withMemory(64 << 10).withDelay(20));
    private final CachingAllocator alloc = new CachingAllocator(device);
    private final Stream s0 = device.newStream();
    private final Stream s1 = device.newStream();

    @AfterEach
    void close() {
        device.close();
    }

    @Test
    void aFreedBlockIsReusedForTheNextRequestOfItsSizeOnItsStream() {
        DeviceBuffer a = alloc.allocate(1000, s0);
        assertEquals(1000, a.bytes(), "the buffer is as long as asked");
        assertEquals(1024, alloc.memoryAllocated(), "sizes round up to 512 bytes");
        alloc.free(a);
        assertEquals(0, alloc.memoryAllocated());
        assertEquals(1024, alloc.memoryReserved(), "a freed block stays reserved");
        DeviceBuffer b = alloc.allocate(900, s0);
        assertEquals(a.handle(), b.handle(), "the cached block is taken again");
        DeviceBuffer c = alloc.allocate(1000, s1);
        assertNotEquals(b.handle(), c.handle(), "another stream's request gets its own block");
        alloc.free(b);
        DeviceBuffer big = alloc.allocate(4000, s0);
        assertNotEquals(a.handle(), big.handle(), "a block too small is not taken");
        alloc.free(big);
        DeviceBuffer small = alloc.allocate(100, s0);
        assertNotEquals(big.handle(), small.handle(), "a block more than twice the size asked is not taken");
        assertEquals(a.handle(), small.handle(), "the best fit, at most twice the size, is");
        assertEquals(3, alloc.deviceMallocs());
        assertEquals(3, device.mallocCalls());
    }

    @Test
    void aBlockUsedOnAnotherStreamWaitsForThatStreamBeforeReuse() {
        DeviceBuffer a = alloc.allocate(512, s0);
        alloc.recordStream(a, s1);
        device.hold(s1);
        device.fillZero(a, s1);                      // pending work on s1 uses the block
        alloc.free(a);
        DeviceBuffer b = alloc.allocate(512, s0);
        assertNotEquals(a.handle(), b.handle(), "not reused while s1 may still use it");
        device.release(s1);
        device.synchronize(s1);
        alloc.free(b);
        DeviceBuffer c = alloc.allocate(512, s0);
        DeviceBuffer d = alloc.allocate(512, s0);
        assertTrue((c.handle() == a.handle() || d.handle() == a.handle()) && alloc.deviceMallocs() == 2,
                "once s1's event completed the block is back in s0's pool");
    }

    @Test
    void aCaptureIsServedFromItsGraphPoolWhoseBlocksStayWithTheGraphUntilItCloses() {
        DeviceBuffer warm = alloc.allocate(1000, s0);    // a warm-up step's request, traced
        alloc.startTrace(s0);
        alloc.free(warm);
        DeviceBuffer traced = alloc.allocate(1000, s0);
        alloc.free(traced);
        java.util.List<Long> sizes = alloc.stopTrace();
        assertEquals(java.util.List.of(1024L), sizes);
        CachingAllocator.GraphPool pool = alloc.beginCapture(s0, sizes);
        assertEquals(1024, pool.bytes());
        assertEquals(1, alloc.deviceMallocs(), "the pool took the cached block: no malloc");
        device.beginCapture(s0);
        DeviceBuffer inCapture = alloc.allocate(900, s0);
        assertEquals(warm.handle(), inCapture.handle(), "the capture's request comes from the pool");
        alloc.free(inCapture);                            // freed while the graph lives: back to the pool, not to the shared cache
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> alloc.allocate(5000, s0));
        assertTrue(e.getMessage().contains("while a stream captures a graph"), "a request the pool cannot serve is the clear error: " + e.getMessage());
        Graph g = device.endCapture(s0);
        alloc.endCapture();
        DeviceBuffer after = alloc.allocate(900, s0);
        assertNotEquals(warm.handle(), after.handle(), "a graph's block is not handed out while the graph lives");
        assertEquals(2048, alloc.memoryReserved(), "the pool's block and the new one");
        g.close();
        pool.close();
        DeviceBuffer again = alloc.allocate(900, s0);
        assertEquals(warm.handle(), again.handle(), "once the graph and its pool are closed the block is shared again");
    }

    @Test
    void aCaptureAcrossStreamsServesEachStreamFromTheBlocksSetAsideForIt() {
        alloc.startTrace(s0);
        alloc.startTrace(s1);
        alloc.free(alloc.allocate(1000, s0));             // two replicas' warm-ups, traced at once, of different sizes
        alloc.free(alloc.allocate(3000, s1));
        assertEquals(java.util.List.of(1024L), alloc.stopTrace(s0));
        assertEquals(java.util.List.of(3072L), alloc.stopTrace(s1));
        CachingAllocator.GraphPool pool = alloc.beginCapture(java.util.Map.of(s0, java.util.List.of(1024L), s1, java.util.List.of(3072L)));
        assertEquals(1024 + 3072, pool.bytes());
        int mallocs = alloc.deviceMallocs();
        device.beginCapture(s0);
        Event fork = device.newEvent();
        device.record(fork, s0);
        device.waitEvent(s1, fork);                       // s1 joins the capture
        DeviceBuffer b1 = alloc.allocate(3000, s1), b0 = alloc.allocate(1000, s0);
        assertEquals(mallocs, alloc.deviceMallocs(), "both requests from the pool, each from its own stream's blocks");
        alloc.free(b1);
        assertEquals(b1.handle(), alloc.allocate(2000, s1).handle(), "a block freed during the capture goes back to its stream's part of the pool");
        assertThrows(IllegalStateException.class, () -> alloc.allocate(2000, s0), "s0's part holds no block of that size: malloc, refused");
        Event join = device.newEvent();
        device.record(join, s1);
        device.waitEvent(s0, join);
        Graph g = device.endCapture(s0);
        alloc.endCapture();
        alloc.free(b0);
        g.close();
        pool.close();
        assertEquals(b0.handle(), alloc.allocate(1000, s0).handle(), "once closed, the pool's blocks are shared again");
    }

    @Test
    void aFreeDuringACaptureOfABlockAnotherStreamUsedWaitsForTheCaptureToEnd() {
        DeviceBuffer a = alloc.allocate(512, s1);
        alloc.recordStream(a, s0);
        CachingAllocator.GraphPool pool = alloc.beginCapture(s0, java.util.List.of());
        device.beginCapture(s0);
        alloc.free(a);                                    // its event on s0 would be captured: deferred
        Graph g = device.endCapture(s0);
        assertEquals(0, g.operations(), "nothing of the allocator's was captured");
        alloc.endCapture();
        device.synchronize(s0);
        DeviceBuffer b = alloc.allocate(512, s1);
        assertEquals(a.handle(), b.handle(), "after the capture the free is done, with its event recorded eagerly");
        g.close();
        pool.close();
    }

    @Test
    void outOfMemoryEmptiesTheCacheThenNamesDeviceSizeAndFreeMemory() {
        DeviceBuffer a = alloc.allocate(40 << 10, s0);
        alloc.free(a);
        DeviceBuffer b = alloc.allocate(50 << 10, s0);  // only fits once the cached 40 KiB block is given back
        assertEquals(50 << 10, alloc.memoryReserved());
        DeviceOutOfMemoryError e = assertThrows(DeviceOutOfMemoryError.class, () -> alloc.allocate(20 << 10, s0));
        assertEquals("sim:0 out of memory: tried to allocate 20.0 KiB; 14.0 KiB free of 64.0 KiB total; Phalanx holds 50.0 KiB "
                + "(50.0 KiB in use, the rest cached). Use a smaller batch size or fewer replicas on this device", e.getMessage());
        assertEquals(20 << 10, e.requested());
        alloc.free(b);
        assertThrows(IllegalStateException.class, () -> alloc.free(b), "double free");
        assertThrows(IllegalArgumentException.class, () -> alloc.free(device.malloc(512)), "not from this allocator");
    }

    @Test
    void theAlgorithmOfAConvolutionShapeIsSearchedOnce() {
        ConvAlgorithmCache cache = new ConvAlgorithmCache(device);
        ConvGeometry g = new ConvGeometry(4, 3, 8, 8, 6, 5, 5, 1, 1, 0, 0);
        ConvAlgorithm a = cache.get(ConvDirection.FORWARD, g);
        for (int i = 0; i < 5; i++) assertEquals(a, cache.get(ConvDirection.FORWARD, g));
        cache.get(ConvDirection.BACKWARD_DATA, g);
        cache.get(ConvDirection.FORWARD, new ConvGeometry(2, 3, 8, 8, 6, 5, 5, 1, 1, 0, 0));
        assertEquals(3, cache.finds(), "one search per direction and shape; the last, smaller batch is its own shape");
        assertTrue(a.workspaceBytes() > 0);
    }
}
