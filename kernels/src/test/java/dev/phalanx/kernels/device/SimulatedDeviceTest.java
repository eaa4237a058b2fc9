package dev.phalanx.kernels.device;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.TreeSet;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** What the simulation adds: its memory is its own, streams really run apart, and a test can hold one back. */
class SimulatedDeviceTest {

    private final SimulatedDevice device = new SimulatedDevice(0, SimulatedDevice.Options.defaults().withMemory(1 << 20).withDelay(100));
    private final Stream compute = device.newStream();
    private final Stream copies = device.newStream();

    @AfterEach
    void close() {
        device.close();
    }

    private DeviceBuffer upload(float[] a) {
        DeviceBuffer b = device.malloc(a.length * 4L);
        DeviceTransfers.upload(device, compute, a, b);
        return b;
    }

    private void scaleOnComputeStream(DeviceBuffer b, int n) {
        device.launch(compute, "scale_f32", LaunchConfig.linear(n), KernelArgs.of().ptr(b).f32(10f).i64(n));
    }

    @Test
    void aMissingSynchronisationGivesAWrongResultEveryTime() {
        float[] a = {1, 2, 3, 4};
        for (int run = 0; run < 20; run++) {
            DeviceBuffer x = upload(a), y = device.malloc(16);
            device.hold(compute);
            scaleOnComputeStream(x, 4);
            device.copyDeviceToDevice(x, y, 16, copies);          // no wait for the compute stream: the bug on purpose
            float[] seen = DeviceTransfers.download(device, copies, y, 4);
            device.release(compute);
            device.synchronize(compute);
            assertArrayEquals(a, seen, "the copy read x before the held compute stream scaled it (run " + run + ")");
            device.free(x);
            device.free(y);
        }
    }

    @Test
    void theSameWorkWithTheEventGivesTheRightResult() {
        DeviceBuffer x = upload(new float[] {1, 2, 3, 4}), y = device.malloc(16);
        Event scaled = device.newEvent();
        device.hold(compute);
        scaleOnComputeStream(x, 4);
        device.record(scaled, compute);
        device.waitEvent(copies, scaled);
        device.copyDeviceToDevice(x, y, 16, copies);
        assertTrue(!device.isComplete(scaled), "the held stream has not reached its event");
        device.release(compute);
        assertArrayEquals(new float[] {10, 20, 30, 40}, DeviceTransfers.download(device, copies, y, 4));
    }

    @Test
    void aTimingEventKeepsTheTimeItsPointRanAtOnTheStreamThread() throws InterruptedException {
        Event start = device.newTimingEvent(), end = device.newTimingEvent();
        device.record(start, compute);
        device.synchronize(start);
        device.hold(compute);
        device.record(end, compute);
        IllegalStateException notYet = assertThrows(IllegalStateException.class, () -> device.elapsedMillis(start, end));
        assertTrue(notYet.getMessage().contains("not complete"), notYet.getMessage());
        Thread.sleep(50);
        device.release(compute);
        device.synchronize(end);
        float ms = device.elapsedMillis(start, end);
        assertTrue(ms >= 50, "the end point ran after the stream was released, 50 ms after the start, not when it was enqueued: " + ms + " ms");
        IllegalStateException never = assertThrows(IllegalStateException.class, () -> device.elapsedMillis(device.newTimingEvent(), end));
        assertTrue(never.getMessage().contains("not recorded"), never.getMessage());
    }

    @Test
    void synchronisingAHeldStreamIsAnErrorNotAHang() {
        device.hold(compute);
        scaleOnComputeStream(device.malloc(16), 4);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> device.synchronize(compute));
        assertTrue(e.getMessage().contains("holds it"), e.getMessage());
        device.release(compute);
        device.synchronize(compute);
    }

    @Test
    void deviceMemoryIsReachableOnlyThroughItsOwnDevice() {
        DeviceBuffer b = device.malloc(16);
        try (SimulatedDevice other = new SimulatedDevice(1)) {
            Stream s = other.newStream();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> other.launch(s, "fill_f32", LaunchConfig.linear(4), KernelArgs.of().ptr(b).f32(1f).i64(4)));
            assertTrue(e.getMessage().contains("sim:0") && e.getMessage().contains("sim:1"), e.getMessage());
        }
        device.free(b);
        IllegalStateException freed = assertThrows(IllegalStateException.class, () -> scaleOnComputeStream(b, 4));
        assertTrue(freed.getMessage().contains("freed"), freed.getMessage());
        assertThrows(IllegalStateException.class, () -> device.free(b), "double free");
    }

    @Test
    void anAccessBeyondABufferFailsAtTheNextSynchronisation() {
        DeviceBuffer b = device.malloc(16);
        device.launch(compute, "fill_f32", LaunchConfig.linear(8), KernelArgs.of().ptr(b).f32(1f).i64(8));
        DeviceException e = assertThrows(DeviceException.class, () -> device.synchronize(compute));
        assertTrue(e.getMessage().contains("fill_f32") && e.getMessage().contains("illegal address"), e.getMessage());
    }

    @Test
    void outOfMemoryNamesTheDeviceTheSizeAndWhatIsFree() {
        DeviceOutOfMemoryError e = assertThrows(DeviceOutOfMemoryError.class, () -> device.malloc(2 << 20));
        assertTrue(e.getMessage().startsWith("sim:0 out of memory: tried to allocate 2.0 MiB; 1.0 MiB free"), e.getMessage());
    }

    @Test
    void allocatingDuringACaptureIsAnError() {
        device.beginCapture(compute);
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> device.malloc(16));
        assertTrue(e.getMessage().contains("captures a graph"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> device.synchronize(compute));
        assertEquals(0, device.endCapture(compute).operations());
    }

    @Test
    void aWaitMayNotCrossACapturesBoundaryAsOnAGpu() {
        Stream other = device.newStream();
        Event outside = device.newEvent();
        device.record(outside, other);
        device.beginCapture(compute);
        IllegalStateException in = assertThrows(IllegalStateException.class, () -> device.waitEvent(compute, outside));
        assertTrue(in.getMessage().contains("cudaErrorStreamCaptureIsolation"), in.getMessage());
        Event inside = device.newEvent();
        device.record(inside, compute);
        device.waitEvent(compute, inside);               // within the capture: fine
        IllegalStateException out = assertThrows(IllegalStateException.class, () -> device.waitEvent(other, inside));
        assertTrue(out.getMessage().contains("inside another stream's capture"), out.getMessage());
        Graph g = device.endCapture(compute);
        assertEquals(2, g.operations());
        device.replay(g, compute);                       // a replayed record is an eager one: others may wait for it
        device.waitEvent(other, inside);
        device.synchronize(other);
        g.close();
    }

    @Test
    void theHostWaitsForAStreamAreCounted() {
        Stream other = device.newStream();
        Event e = device.newEvent();
        int before = device.hostWaits(compute);
        device.record(e, compute);
        device.synchronize(e);
        device.synchronize(compute);
        device.synchronize(other);
        assertEquals(before + 2, device.hostWaits(compute), "a synchronize on the stream and one on an event recorded there");
        assertEquals(1, device.hostWaits(other));
    }

    @Test
    void kernelArgumentsAreCheckedAgainstTheSourceSignature() {
        DeviceBuffer b = device.malloc(16);
        IllegalArgumentException wrongType = assertThrows(IllegalArgumentException.class,
                () -> device.launch(compute, "scale_f32", LaunchConfig.linear(4), KernelArgs.of().ptr(b).f32(1f).i32(4)));
        assertTrue(wrongType.getMessage().contains("kernel scale_f32: argument 3 (long long n) got int 4"), wrongType.getMessage());
        IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
                () -> device.launch(compute, "scale_f32", LaunchConfig.linear(4), KernelArgs.of().ptr(b)));
        assertTrue(count.getMessage().contains("takes 3 arguments"), count.getMessage());
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> device.launch(compute, "no_such_kernel", LaunchConfig.linear(4), KernelArgs.of()));
        assertTrue(unknown.getMessage().contains("no kernel named 'no_such_kernel'"), unknown.getMessage());
    }

    @Test
    void aLaunchContractTheGpuReliesOnIsChecked() {
        DeviceBuffer x = device.malloc(64), out = device.malloc(4);
        device.launch(compute, "sum_all", LaunchConfig.perRow(4, 128), KernelArgs.of().ptr(x).ptr(out).i64(16));
        DeviceException e = assertThrows(DeviceException.class, () -> device.synchronize(compute));
        assertTrue(e.getMessage().contains("one block of 256 threads"), e.getMessage());
    }

    @Test
    void everyKernelInTheSourcesHasASimulatedTwinAndNoOtherTwinExists() {
        Set<String> declared = new TreeSet<>();
        for (KernelSignature s : KernelCatalog.standard().all()) declared.add(s.name());
        assertEquals(declared, new TreeSet<>(SimKernels.TWINS.keySet()));
    }
}
