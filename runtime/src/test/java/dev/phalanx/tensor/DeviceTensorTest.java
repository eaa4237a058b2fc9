package dev.phalanx.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.Cuda;
import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContexts;
import dev.phalanx.kernels.device.SimulatedDevice;
import dev.phalanx.nn.Linear;

/** Tensors in device memory, on the simulated device: moving both ways, reads that copy, errors, Module.to, the allocator's counters. */
class DeviceTensorTest {

    private static final Device SIM = Device.sim(0);

    @Test
    void float32GoesToTheDeviceAndBackUnchanged() {
        Tensor h = Tensor.of(new float[] {1, -2.5f, 3, 4e-8f, Float.MAX_VALUE, -0f}, 2, 3);
        Tensor d = h.to(SIM);
        assertEquals(SIM, d.device());
        assertInstanceOf(DeviceStorage.class, d.storage());
        assertArrayEquals(new int[] {2, 3}, d.shape());
        assertSame(d, d.to(SIM), "already there: the tensor itself");
        Tensor back = d.to(Device.CPU);
        assertEquals(Device.CPU, back.device());
        assertArrayEquals(h.data(), back.data());
        assertNotSame(h.data(), back.data(), "a copy, not the source array");
    }

    @Test
    void everyDtypeRoundTripsBitForBit() {
        Tensor[] all = {
            Tensor.ofDoubles(1.5, -1e300, Double.MIN_VALUE),
            Tensor.of(1f, 2f, 3f).to(DType.FLOAT16),
            Tensor.of(1f, 2f, 3f).to(DType.BFLOAT16),
            Tensor.ofLongs(Long.MIN_VALUE, 7, Long.MAX_VALUE),
            Tensor.ofInts(Integer.MIN_VALUE, 0, 5),
            Tensor.of(DType.INT16, new short[] {-3, 300, 9}, 3),
            Tensor.of(DType.INT8, new byte[] {-128, 1, 127}, 3),
            Tensor.of(DType.UINT8, new byte[] {(byte) 255, 1, 0}, 3),
            Tensor.ofBools(true, false, true),
        };
        for (Tensor h : all) {
            Tensor back = h.to(SIM).to(Device.CPU);
            assertEquals(h.dtype(), back.dtype());
            assertEquals(h.toString(), back.toString(), h.dtype().torchName());
            for (int i = 0; i < 3; i++) assertEquals(Double.doubleToLongBits(h.getDouble(i)), Double.doubleToLongBits(back.getDouble(i)), h.dtype() + " [" + i + "]");
        }
    }

    @Test
    void viewsMoveAsTheirElementsInRowMajorOrder() {
        Tensor h = Tensor.arange(12).view(3, 4);
        Tensor t = h.t(); // strided
        assertArrayEquals(t.contiguous().data(), t.to(SIM).to(Device.CPU).data());
        Tensor d = h.to(SIM);
        Tensor narrowed = d.narrow(0, 1, 2); // a view of device memory, offset 4
        assertEquals(SIM, narrowed.device());
        assertArrayEquals(new float[] {4, 5, 6, 7, 8, 9, 10, 11}, narrowed.to(Device.CPU).data());
        assertArrayEquals(new float[] {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}, d.t().contiguous().to(Device.CPU).data(), "a strided device view made row-major");
        assertEquals(9f, d.get(2, 1), "one element: copied back");
    }

    @Test
    void readsCopyToTheHostAndDataSaysHowToGetAnArray() {
        Tensor d = Tensor.of(1f, 2f).to(SIM);
        assertEquals("tensor([1., 2.], device='sim:0')", d.toString());
        assertEquals("tensor([1., 2.], device='sim:0', dtype=torch.float64)", Tensor.ofDoubles(1, 2).to(SIM).toString());
        assertEquals(3f, Tensor.scalar(3f).to(SIM).item());
        assertEquals(5L, Tensor.ofLongs(5).to(SIM).longItem());
        IllegalStateException e = assertThrows(IllegalStateException.class, d::data);
        assertTrue(e.getMessage().contains("sim:0") && e.getMessage().contains("to(Device.CPU)"), e.getMessage());
        IllegalArgumentException op = assertThrows(IllegalArgumentException.class, () -> d.to(DType.FLOAT16).max()); // no float16 kernel
        assertTrue(op.getMessage().contains("sim:0") && op.getMessage().contains("float16"), op.getMessage());
    }

    @Test
    void mixingDevicesInOneOpNamesBoth() {
        Tensor a = Tensor.of(1f, 2f), b = Tensor.of(1f, 2f).to(SIM);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> a.add(b));
        assertTrue(e.getMessage().contains("cpu") && e.getMessage().contains("sim:0"), e.getMessage());
        IllegalArgumentException lin = assertThrows(IllegalArgumentException.class,
                () -> dev.phalanx.nn.F.linear(Tensor.ones(2, 3), Tensor.ones(4, 3).to(SIM), null));
        assertTrue(lin.getMessage().contains("cpu and sim:0"), lin.getMessage());
    }

    @Test
    void aGradientOnAnotherDeviceAndDataOfAnotherShapeAreRefusedByName() {
        Tensor x = Tensor.of(1f, 2f).to(SIM).requiresGrad(true);
        Tensor y = x.relu();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> y.backward(Tensor.ones(2)));
        assertTrue(e.getMessage().contains("cpu") && e.getMessage().contains("sim:0"), e.getMessage());
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class, () -> Tensor.zeros(3).setData(Tensor.zeros(2).to(SIM)));
        assertTrue(shape.getMessage().contains("[2]") && shape.getMessage().contains("[3]"), shape.getMessage());
    }

    @Test
    void inPlaceWritesFillsCopiesAndGradientAccumulationOnTheDevice() {
        Tensor d = Tensor.of(1f, 2f, 3f).to(SIM);
        d.add_(Tensor.of(10f, 20f, 30f).to(SIM));
        d.mul_(2f);
        assertArrayEquals(new float[] {22, 44, 66}, d.to(Device.CPU).data());
        d.zero_();
        assertArrayEquals(new float[] {0, 0, 0}, d.to(Device.CPU).data());
        d.fill_(1.5);
        assertArrayEquals(new float[] {1.5f, 1.5f, 1.5f}, d.to(Device.CPU).data());
        d.copy_(Tensor.of(7f, 8f, 9f));
        assertArrayEquals(new float[] {7, 8, 9}, d.to(Device.CPU).data());
        Tensor host = Tensor.zeros(3);
        host.copy_(d);
        assertArrayEquals(new float[] {7, 8, 9}, host.data());
        assertArrayEquals(new float[] {1, 1}, Tensor.onesLike(Tensor.zeros(2).to(SIM)).to(Device.CPU).data());
        Tensor c = d.clone();
        d.zero_();
        assertArrayEquals(new float[] {7, 8, 9}, c.to(Device.CPU).data(), "clone has storage of its own");
    }

    @Test
    void toIsRecordedForAutogradAndTheGradientGoesBack() {
        Tensor x = Tensor.of(1f, 2f).requiresGrad(true);
        Tensor d = x.to(SIM);
        assertEquals("ToCopyBackward0", d.gradFn().name());
        Tensor back = d.to(Device.CPU);
        back.mul(Tensor.of(3f, 4f)).sum().backward();
        assertEquals(Device.CPU, x.grad().device());
        assertArrayEquals(new float[] {3, 4}, x.grad().data());
    }

    @Test
    void moduleToMovesParametersInPlace() {
        Linear lin = new Linear(3, 2, new Generator(1));
        float[] w = lin.weight.data().clone();
        Tensor weight = lin.weight;
        lin.to(SIM);
        assertSame(weight, lin.weight, "the same tensor object, as PyTorch's module.to");
        assertEquals(SIM, lin.weight.device());
        assertEquals(SIM, lin.bias.device());
        assertTrue(lin.weight.requiresGrad() && lin.weight.isLeaf());
        lin.to(Device.CPU);
        assertEquals(Device.CPU, lin.weight.device());
        assertArrayEquals(w, lin.weight.data());
    }

    @Test
    void memoryAllocatedCountsTheCachingAllocatorsBlocks() {
        Device d = Device.sim(13); // a device no other test uses: a freed block of up to twice the size would serve this request
        long before = Cuda.memoryAllocated(d);
        Tensor t = Tensor.zeros(1000).to(d); // 4000 bytes, rounded to 4096
        assertEquals(before + 4096, Cuda.memoryAllocated(d));
        assertTrue(Cuda.memoryReserved(d) >= Cuda.memoryAllocated(d));
        java.lang.ref.Reference.reachabilityFence(t);
    }

    @Test
    void aReadBackThatSkipsWaitingForTheWritingStreamSeesStaleValuesEveryTime() throws Exception {
        Device d = Device.sim(4);
        SimulatedDevice sim = (SimulatedDevice) DeviceContexts.of(d).api();
        for (int run = 0; run < 10; run++) {
            Tensor x = Tensor.of(1f, 2f, 3f).to(d);           // uploaded on the copy stream
            sim.hold(DeviceContexts.of(d).stream());
            x.mul_(10f);                                         // enqueued on the held compute stream
            Tensor stale = DeviceTensors.toHost(x, false);       // the bug on purpose: no wait for the compute stream
            assertArrayEquals(new float[] {1, 2, 3}, stale.data(), "run " + run + ": read before the held stream scaled x");
            Thread releaser = new Thread(() -> {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                sim.release(DeviceContexts.of(d).stream());
            });
            releaser.start();
            assertArrayEquals(new float[] {10, 20, 30}, x.to(Device.CPU).data(), "run " + run + ": to(cpu) waits for the compute stream");
            releaser.join();
        }
    }

    @Test
    void aDeviceTensorIsSavedFromAHostCopy() {
        Tensor d = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2).to(SIM);
        byte[] file = dev.phalanx.io.SafeTensors.serialize(java.util.Map.of("d", d), java.util.Map.of());
        assertArrayEquals(new float[] {1, 2, 3, 4}, dev.phalanx.io.SafeTensors.parse(file, "test").tensors().get("d").data());
    }

    /** An op without a device kernel, given a device tensor, raises an error naming the device and the way out; never a ClassCastException. */
    @Test
    void opsWithoutADeviceKernelSaySoClearly() {
        Tensor d = Tensor.of(new float[] {1, 2, 3, 4}, 2, 2).to(SIM), h = Tensor.ones(2, 2);
        java.util.Map<String, Runnable> ops = new java.util.LinkedHashMap<>();
        ops.put("sum", d::sum);
        ops.put("mean", d::mean);
        ops.put("max", d::max);
        ops.put("max(dim)", () -> d.max(1, false));
        ops.put("argmax", () -> d.argmax(1));
        ops.put("exp", d::exp);
        ops.put("neg", d::neg);
        ops.put("add", () -> d.add(d));
        ops.put("mul(float)", () -> d.mul(2f));
        ops.put("pow", () -> d.pow(2f));
        ops.put("matmul", () -> d.matmul(d));
        ops.put("eq", () -> d.eq(d));
        ops.put("softmax", () -> dev.phalanx.nn.F.softmax(d, 1));
        ops.put("cat", () -> Tensor.cat(java.util.List.of(d, d), 0));
        ops.put("to(float64)", () -> d.to(DType.FLOAT64));
        ops.put("mse", () -> dev.phalanx.nn.F.mseLoss(d, d));
        ops.put("avg_pool2d", () -> dev.phalanx.nn.F.avgPool2d(d.view(1, 1, 2, 2), 2));
        ops.put("set", () -> d.set(1f, 0, 0));
        ops.put("add_(float)", () -> d.add_(1f));
        ops.put("mul_(device, host)", () -> d.mul_(h));
        for (var e : ops.entrySet()) {
            try {
                e.getValue().run();
            } catch (IllegalStateException | IllegalArgumentException | UnsupportedOperationException ex) {
                assertTrue(ex.getMessage() != null && (ex.getMessage().contains("sim:0") || ex.getMessage().contains("to(Device.CPU)")),
                        e.getKey() + ": " + ex.getMessage());
            }
        }
    }

    /**
     * Device blocks come back when their tensors are collected: a loop that drops each tensor
     * runs in a device far smaller than what it allocates in all, and holding more than the
     * device has fails with the allocator's error naming the device and the size.
     */
    @Test
    void unreachableTensorsGiveTheirMemoryBackAndTooMuchIsANamedError() {
        int index = 8;
        DeviceContexts.openSimulated(index, SimulatedDevice.Options.defaults().withMemory(4 << 20).withDelay(0));
        Device d = Device.sim(index);
        for (int i = 0; i < 200; i++) { // 200 x 256 KiB = 50 MiB through a 4 MiB device
            Tensor t = Tensor.zeros(64 * 1024).to(d);
            t.mul_(2f);
        }
        java.util.List<Tensor> kept = new java.util.ArrayList<>();
        dev.phalanx.kernels.device.DeviceOutOfMemoryError e = assertThrows(dev.phalanx.kernels.device.DeviceOutOfMemoryError.class, () -> {
            for (int i = 0; i < 20; i++) kept.add(Tensor.zeros(64 * 1024).to(d));
        });
        assertTrue(e.getMessage().contains("sim:8") && e.getMessage().contains("256.0 KiB"), e.getMessage());
        assertThrows(IllegalStateException.class, () -> DeviceContexts.openSimulated(index, SimulatedDevice.Options.defaults()));
    }
}
