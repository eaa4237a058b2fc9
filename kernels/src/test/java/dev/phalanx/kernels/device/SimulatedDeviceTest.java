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
        Graph g = device.endCapture(compute);
        assertEquals(2, g.operations());
        device.replay(g, compute);                       // a replayed record is an eager one: others may wait for it
        device.waitEvent(other, inside);
        device.synchronize(other);
        g.close();
        // a capturing stream may not wait for an event of another capture
        Stream third = device.newStream();
        Event elsewhere = device.newEvent();
        device.beginCapture(other);
        device.record(elsewhere, other);
        device.beginCapture(compute);
        IllegalStateException merge = assertThrows(IllegalStateException.class, () -> device.waitEvent(compute, elsewhere));
        assertTrue(merge.getMessage().contains("cudaErrorStreamCaptureMerge"), merge.getMessage());
        device.endCapture(compute).close();
        device.endCapture(other).close();
        device.synchronize(third);
    }

    /** Fork: {@code forked} waits for an event recorded on the capturing {@code compute}, joins the capture, and scales x. */
    private Event fork(Stream forked, DeviceBuffer x) {
        Event forkPoint = device.newEvent(), done = device.newEvent();
        device.record(forkPoint, compute);
        device.waitEvent(forked, forkPoint);
        device.launch(forked, "scale_f32", LaunchConfig.linear(4), KernelArgs.of().ptr(x).f32(10f).i64(4));
        device.record(done, forked);
        return done;
    }

    @Test
    void aCaptureFollowsForkAndJoinAcrossStreamsAndItsReplayRunsThemAsAGraph() {
        Stream forked = device.newStream();
        float[] a = {1, 2, 3, 4};
        DeviceBuffer x = upload(a), y = device.malloc(16);
        device.synchronize(compute);
        device.beginCapture(compute);
        Event done = fork(forked, x);
        assertTrue(device.isCapturing(forked), "a stream that waits for an event recorded in a capture joins it");
        device.waitEvent(compute, done);                 // the join: compute follows everything forked did
        device.copyDeviceToDevice(x, y, 16, compute);
        scaleOnComputeStream(y, 4);
        Graph step = device.endCapture(compute);
        assertTrue(!device.isCapturing(forked) && !device.isCapturing(compute), "the capture is over for every stream that joined it");
        assertEquals(7, step.operations(), "record, wait, scale, record on the fork; wait, copy, scale on the origin");
        assertArrayEquals(a, DeviceTransfers.download(device, compute, x, 4), "a capture runs nothing");
        for (int replay = 1; replay <= 5; replay++) {
            device.hold(compute);                        // the launch stream held: the graph's forked work may not start before it
            device.replay(step, compute);
            float[] early = DeviceTransfers.download(device, copies, x, 4);
            device.release(compute);
            float[] pow = new float[4], seen = DeviceTransfers.download(device, compute, y, 4);
            for (int i = 0; i < 4; i++) pow[i] = a[i] * (float) Math.pow(10, replay + 1);
            assertArrayEquals(pow, seen, "replay " + replay + ": y = 10 x after the forked stream scaled x (the join edge)");
            for (int i = 0; i < 4; i++) pow[i] = a[i] * (float) Math.pow(10, replay - 1);
            assertArrayEquals(pow, early, "replay " + replay + ": the forked work waited for the launch stream's point");
        }
        step.close();
    }

    @Test
    void aForkedStreamNotJoinedBackFailsTheCaptureAsOnAGpu() {
        Stream forked = device.newStream();
        DeviceBuffer x = upload(new float[] {1, 2, 3, 4});
        device.synchronize(compute);
        device.beginCapture(compute);
        fork(forked, x);                                 // the wait for `done` left out on purpose
        IllegalStateException unmatched = assertThrows(IllegalStateException.class, () -> device.endCapture(forked));
        assertTrue(unmatched.getMessage().contains("cudaErrorStreamCaptureUnmatched"), unmatched.getMessage());
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> device.endCapture(compute));
        assertTrue(e.getMessage().contains("stream " + forked.id() + " not joined back") && e.getMessage().contains("cudaErrorStreamCaptureUnjoined"),
                e.getMessage());
        assertTrue(!device.isCapturing(forked) && !device.isCapturing(compute), "the failed capture is over");
        device.free(device.malloc(16));                  // allocating is allowed again
        // joined, then more work on the forked stream after its join: unjoined again
        device.beginCapture(compute);
        Event done = fork(forked, x);
        device.waitEvent(compute, done);
        device.launch(forked, "scale_f32", LaunchConfig.linear(4), KernelArgs.of().ptr(x).f32(10f).i64(4));
        IllegalStateException late = assertThrows(IllegalStateException.class, () -> device.endCapture(compute));
        assertTrue(late.getMessage().contains("cudaErrorStreamCaptureUnjoined"), late.getMessage());
        // joined through a third stream: the origin follows the forked stream transitively
        Stream middle = device.newStream();
        device.beginCapture(compute);
        Event forkedDone = fork(forked, x), middleDone = device.newEvent();
        device.waitEvent(middle, forkedDone);
        device.record(middleDone, middle);
        device.waitEvent(compute, middleDone);
        device.endCapture(compute).close();
        device.synchronize(forked);
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
