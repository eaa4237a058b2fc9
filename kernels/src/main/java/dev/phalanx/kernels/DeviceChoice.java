package dev.phalanx.kernels;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

import dev.phalanx.kernels.cuda.CudaProbe;
import dev.phalanx.kernels.cuda.CudaUnavailableException;

/**
 * Where a run trains, from {@code --device cpu|cuda|cuda:N|sim|sim:N|auto} (or a recipe's
 * {@code runtime.device}) and what this machine has: the device, how many GPUs {@code cuda} and
 * {@code auto} spread replicas over, and the line that says why when it is not what was asked for.
 * {@code cuda} without a usable GPU is an error whose message is the one line
 * {@code no CUDA device: <reason>}; {@code auto} falls back to the CPU and says why. {@code sim:N}
 * is the simulated device (the CPU behind the GPU's interface, {@code SimulatedDevice}): for tests,
 * and for trying the GPU path on a machine without a GPU; it is no faster than the CPU.
 */
public record DeviceChoice(Device device, int gpus, String note) {

    public DeviceChoice {
        if (gpus < 1) throw new IllegalArgumentException("a device choice spans at least one device, got " + gpus);
    }

    /** One device. */
    public DeviceChoice(Device device, String note) {
        this(device, 1, note);
    }

    /** What was asked for: {@code index} is the device's number, or -1 for {@code cuda} (every GPU). */
    public record Requested(Kind kind, int index) {
        public enum Kind { CPU, CUDA, SIM, AUTO }

        public static final Requested CPU = new Requested(Kind.CPU, 0);
        /** {@code cuda}: every GPU, replicas spread over them. */
        public static final Requested CUDA = new Requested(Kind.CUDA, -1);
        public static final Requested AUTO = new Requested(Kind.AUTO, 0);

        public static Requested cuda(int index) {
            return new Requested(Kind.CUDA, index);
        }

        public static Requested sim(int index) {
            return new Requested(Kind.SIM, index);
        }
    }

    /** The words {@link #parse} takes, for help texts and errors. */
    public static final String CHOICES = "cpu, cuda, cuda:N, auto, sim or sim:N (the simulated device)";

    /** Parses a device choice; {@code where} names the option or recipe key for the error. */
    public static Requested parse(String text, String where) {
        String s = text.trim().toLowerCase(Locale.ROOT);
        if (s.equals("auto")) return Requested.AUTO;
        if (s.equals("cuda")) return Requested.CUDA;
        try {
            Device d = Device.parse(s);
            return switch (d.kind()) {
                case CPU -> Requested.CPU;
                case CUDA -> Requested.cuda(d.index());
                case SIM -> Requested.sim(d.index());
            };
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(where + " must be " + CHOICES + ", got '" + text + "'");
        }
    }

    /** Resolves without asking the driver where nothing needs it (cpu, sim). */
    public static DeviceChoice resolve(Requested requested) {
        return switch (requested.kind()) {
            case CPU, SIM -> resolve(requested, null);
            default -> resolve(requested, CudaProbe.probe());
        };
    }

    public static DeviceChoice resolve(Requested requested, CudaProbe.Report probe) {
        switch (requested.kind()) {
            case CPU:
                return new DeviceChoice(Device.CPU, "");
            case SIM:
                Device sim = Device.sim(requested.index());
                return new DeviceChoice(sim, "device: " + sim + " (the simulated device: the CPU behind the GPU's interface, for tests and for "
                        + "trying the GPU path without a GPU; not faster than the CPU)");
            case CUDA:
                if (!probe.available()) throw new CudaUnavailableException(probe.reason());
                int count = probe.gpus().size();
                if (requested.index() < 0) return new DeviceChoice(Device.cuda(0), count, "");
                if (requested.index() >= count) {
                    throw new CudaUnavailableException("cuda:" + requested.index() + " was asked for, but this machine has " + gpus(probe));
                }
                return new DeviceChoice(Device.cuda(requested.index()), "");
            default:
                if (!probe.available()) return new DeviceChoice(Device.CPU, "device: cpu (no CUDA device: " + probe.reason() + ")");
                return new DeviceChoice(Device.cuda(0), probe.gpus().size(), "device: cuda (" + gpus(probe) + ")");
        }
    }

    /**
     * The device of each of the run's replicas. Over several GPUs ({@code cuda} or {@code auto} on a
     * machine with more than one): one replica per GPU when the run did not set a replica count,
     * else the replicas in turn over the GPUs ({@code cuda:0, cuda:1, cuda:0, ...}). On one device
     * every replica is there (several on one GPU each get a stream of their own).
     */
    public List<Device> placement(int replicas, boolean replicasGiven) {
        if (replicas < 1) throw new IllegalArgumentException("replicas must be >= 1, got " + replicas);
        if (gpus == 1 || !device.isCuda()) return Collections.nCopies(replicas, device);
        int n = replicasGiven ? replicas : gpus;
        List<Device> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) out.add(Device.cuda(i % gpus));
        return List.copyOf(out);
    }

    private static String gpus(CudaProbe.Report probe) {
        int n = probe.gpus().size();
        return n == 1 ? "1 GPU, cuda:0 (" + probe.gpus().get(0).name() + ")" : n + " GPUs, cuda:0 to cuda:" + (n - 1);
    }
}
