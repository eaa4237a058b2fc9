package dev.phalanx.kernels.cuda;

import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.KernelArgs;

/**
 * {@code cuLaunchKernel}'s {@code void** kernelParams}: an array with one pointer per argument,
 * each pointing at native memory that holds the argument's value (a device address for a pointer
 * parameter, an int, a long long, a float or a double). The driver copies the values during the call, so
 * the cells live only as long as this object; close it after the launch.
 */
final class CudaLaunchArgs implements AutoCloseable {

    private final PointerPointer<Pointer> params;
    private final Pointer[] cells;

    CudaLaunchArgs(KernelArgs args) {
        int n = args.size();
        params = new PointerPointer<>(Math.max(n, 1));
        cells = new Pointer[n];
        for (int i = 0; i < n; i++) {
            Pointer cell;
            KernelArgs.Arg a = args.get(i);
            if (a instanceof KernelArgs.Ptr p) cell = new LongPointer(1).put(address(p.buffer()));
            else if (a instanceof KernelArgs.I32 v) cell = new IntPointer(1).put(v.value());
            else if (a instanceof KernelArgs.I64 v) cell = new LongPointer(1).put(v.value());
            else if (a instanceof KernelArgs.F64 v) cell = new DoublePointer(1).put(v.value());
            else cell = new FloatPointer(1).put(((KernelArgs.F32) a).value());
            cells[i] = cell;
            params.put(i, cell);
        }
    }

    /** A CUDA device buffer's address: the allocation's base (its handle) plus the range's offset. */
    static long address(DeviceBuffer b) {
        return b.handle() + b.offset();
    }

    PointerPointer<Pointer> params() {
        return params;
    }

    /** The native cell of argument {@code i}, for tests. */
    Pointer cell(int i) {
        return cells[i];
    }

    @Override
    public void close() {
        for (Pointer c : cells) c.close();
        params.close();
    }
}
