package dev.phalanx.kernels.device;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The arguments of one kernel launch, in the kernel's parameter order, each with its C type:
 * a device pointer, a 32-bit int, a 64-bit long long, a float or a double. Checked against the kernel's
 * declared parameters ({@link KernelSignature}) before any launch, so a wrong count or type is a
 * Java exception naming the kernel and the parameter, not a crash on the GPU.
 */
public final class KernelArgs {

    /** One argument. */
    public sealed interface Arg permits Ptr, I32, I64, F32, F64 { }

    public record Ptr(DeviceBuffer buffer) implements Arg {
        @Override
        public String toString() {
            return "pointer " + buffer;
        }
    }

    public record I32(int value) implements Arg {
        @Override
        public String toString() {
            return "int " + value;
        }
    }

    public record I64(long value) implements Arg {
        @Override
        public String toString() {
            return "long long " + value;
        }
    }

    public record F32(float value) implements Arg {
        @Override
        public String toString() {
            return "float " + value;
        }
    }

    public record F64(double value) implements Arg {
        @Override
        public String toString() {
            return "double " + value;
        }
    }

    private final List<Arg> args = new ArrayList<>();

    public static KernelArgs of() {
        return new KernelArgs();
    }

    public KernelArgs ptr(DeviceBuffer b) {
        args.add(new Ptr(java.util.Objects.requireNonNull(b, "device buffer")));
        return this;
    }

    public KernelArgs i32(int v) {
        args.add(new I32(v));
        return this;
    }

    public KernelArgs i64(long v) {
        args.add(new I64(v));
        return this;
    }

    public KernelArgs f32(float v) {
        args.add(new F32(v));
        return this;
    }

    public KernelArgs f64(double v) {
        args.add(new F64(v));
        return this;
    }

    public List<Arg> list() {
        return Collections.unmodifiableList(args);
    }

    public int size() {
        return args.size();
    }

    public Arg get(int i) {
        return args.get(i);
    }

    public DeviceBuffer buffer(int i) {
        return ((Ptr) args.get(i)).buffer();
    }

    public int int32(int i) {
        return ((I32) args.get(i)).value();
    }

    public long int64(int i) {
        return ((I64) args.get(i)).value();
    }

    public float float32(int i) {
        return ((F32) args.get(i)).value();
    }

    public double float64(int i) {
        return ((F64) args.get(i)).value();
    }

    @Override
    public String toString() {
        return args.toString();
    }
}
