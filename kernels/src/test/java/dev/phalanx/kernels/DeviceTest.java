package dev.phalanx.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class DeviceTest {

    @Test
    void parsesTorchStyleNames() {
        assertEquals(Device.CPU, Device.parse("cpu"));
        assertEquals(Device.cuda(0), Device.parse("cuda"));
        assertEquals(Device.cuda(3), Device.parse("CUDA:3"));
        assertEquals("cuda:3", Device.cuda(3).toString());
        assertEquals("cpu", Device.CPU.toString());
    }

    @Test
    void rejectsUnknownNamesWithWhatIsAccepted() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Device.parse("gpu0"));
        assertTrue(e.getMessage().contains("'gpu0'") && e.getMessage().contains("cuda:N"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Device.parse("cuda:x"));
        assertThrows(IllegalArgumentException.class, () -> Device.cuda(-1));
        assertThrows(IllegalArgumentException.class, () -> Device.parse("sim:-1"));
    }

    @Test
    void theSimulatedDeviceHasANameOfItsOwn() {
        assertEquals(Device.sim(0), Device.parse("sim"));
        assertEquals(Device.sim(2), Device.parse("SIM:2"));
        assertEquals("sim:2", Device.sim(2).toString());
        assertTrue(!Device.sim(0).isCuda() && !Device.sim(0).isCpu() && Device.CPU.isCpu());
    }

    @Test
    void oneContextPerDeviceOpenedOnFirstUse() {
        Device d = Device.sim(7);
        assertEquals(0, Cuda.memoryAllocated(d), "nothing opened yet");
        DeviceContext c = DeviceContexts.of(d);
        assertSame(c, DeviceContexts.of(d), "one context per device per process");
        assertEquals("sim:7", c.api().name());
        c.allocator().allocate(1000, c.stream());
        assertEquals(1024, Cuda.memoryAllocated(d), "1000 bytes round to 2 blocks of 512");
        assertEquals(1024, Cuda.memoryReserved(d));
        assertThrows(IllegalArgumentException.class, () -> DeviceContexts.of(Device.CPU));
    }

    /**
     * Cuda.synchronize waits for every stream of the device: its compute and copy streams and the
     * replicas'. Each stream in turn gets work alone (each op waits up to 40 ms first, so without
     * the wait for that stream its event is still pending when synchronize returns).
     */
    @Test
    void synchronizeWaitsForEveryStreamOfTheDevice() {
        Cuda.synchronize(Device.CPU); // nothing to wait for
        Cuda.synchronize(Device.sim(9)); // never opened: nothing to wait for, and it stays unopened
        assertEquals(null, DeviceContexts.ifOpen(Device.sim(9)));
        DeviceContext c = DeviceContexts.openSimulated(8, dev.phalanx.kernels.device.SimulatedDevice.Options.defaults().withDelay(40_000));
        for (var s : java.util.List.of(c.stream(), c.copyStream(), c.replicaStream(0), c.replicaStream(3))) {
            var buffer = c.allocator().allocate(512, s);
            for (int i = 0; i < 6; i++) c.api().fillZero(buffer, s);
            var e = c.api().newEvent();
            c.api().record(e, s);
            Cuda.synchronize(Device.sim(8));
            assertTrue(c.api().isComplete(e), "stream " + s + " was not waited for");
        }
    }
}
