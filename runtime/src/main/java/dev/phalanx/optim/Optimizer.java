package dev.phalanx.optim;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Tensor;

/**
 * Updates parameters from their gradients, following {@code torch.optim}'s single-tensor
 * rules exactly. Per-parameter state (momentum buffers, moments, step counts) is kept by
 * parameter index and saved by {@link #stateDict()} as {@code state.<index>.<name>}.
 *
 * <p>For parameters on a device the state lives there, the step counts included, and the learning
 * rate is mirrored into one float32 of device memory per device, which the fused kernels read
 * (torch.optim's {@code capturable=True}): a step captured into a graph and replayed advances its
 * own step count and uses the current learning rate, with the eager steps' bits.
 */
public abstract class Optimizer {

    protected final List<Tensor> params;
    protected float lr;
    private final List<Map<String, Tensor>> state;
    /** The learning rate in device memory, one float32 per device the parameters are on, made at the first update there. */
    private final Map<Device, Tensor> deviceLr = new LinkedHashMap<>();

    protected Optimizer(List<Tensor> params, float lr) {
        if (params.isEmpty()) throw new IllegalArgumentException(getClass().getSimpleName() + " got an empty parameter list");
        if (!(lr >= 0)) throw new IllegalArgumentException("Invalid learning rate: " + lr);
        for (int i = 0; i < params.size(); i++) {
            if (!params.get(i).requiresGrad()) {
                throw new IllegalArgumentException(getClass().getSimpleName() + ": parameter " + i + " does not require grad");
            }
        }
        this.params = List.copyOf(params);
        this.lr = lr;
        this.state = new ArrayList<>();
        for (int i = 0; i < params.size(); i++) state.add(new HashMap<>());
    }

    /** One update of every parameter that has a gradient. */
    public final void step() {
        for (int i = 0; i < params.size(); i++) {
            Tensor p = params.get(i);
            if (p.grad() == null) continue;
            if (!p.device().isCpu()) {
                Tensor.checkSameDevice(getClass().getSimpleName() + ".step (parameter " + i + " and its gradient)", p, p.grad());
                updateOnDevice(p, p.grad(), state.get(i));
            } else if (p.dtype() == DType.FLOAT32) {
                update(p.data(), p.grad().contiguousFloats(), state.get(i));
            } else {
                updateInFloat32(p, state.get(i));
            }
            p.storage().bumpVersion(); // an in-place write: a graph that saved p refuses a later backward, as PyTorch's
        }
    }

    /**
     * A parameter of another floating dtype (a model converted with {@code Module.to(dtype)}): the
     * rule runs in float32, as the layers do (DESIGN.md, "float32 compute where no kernel
     * exists"), on a float32 copy that is written back in the parameter's dtype; the state
     * buffers are float32.
     */
    private void updateInFloat32(Tensor p, Map<String, Tensor> st) {
        if (!p.dtype().isFloatingPoint()) {
            throw new IllegalStateException(getClass().getSimpleName() + ": parameters must be floating point, got one of " + p.dtype().torchName());
        }
        float[] values = p.contiguousFloats(); // a copy: p is not float32
        update(values, p.grad().contiguousFloats(), st);
        try (var ignored = GradMode.noGrad()) {
            p.copy_(Tensor.of(values, p.shape()));
        }
    }

    /** The rule: update {@code p} in place from gradient {@code g}, using and updating {@code st}. */
    protected abstract void update(float[] p, float[] g, Map<String, Tensor> st);

    /**
     * The rule for a parameter in device memory, enqueued on its device's stream (one fused
     * kernel). Only the optimizers with a device kernel wired up override it.
     */
    protected void updateOnDevice(Tensor p, Tensor g, Map<String, Tensor> st) {
        throw new IllegalStateException(getClass().getSimpleName() + " has no " + p.device() + " update yet (SGD, Adam, AdamW and RMSprop have); "
                + "train on the cpu");
    }

    /** The state buffer {@code name} of a parameter in device memory, created as zeros on its device on first use. */
    protected static Tensor deviceBuffer(Map<String, Tensor> st, String name, Tensor p) {
        return st.computeIfAbsent(name, k -> Tensor.zerosLike(p));
    }

    /**
     * Whether a step of this optimizer on a device may be captured into a graph and replayed: every
     * value it computes per step is computed on the device (SGD, Adam, AdamW and RMSprop), nothing
     * on the host that a replay would freeze. An optimizer that passes per-step host values to its
     * kernels returns false.
     */
    public boolean capturable() {
        return false;
    }

    /** The learning rate's device memory on {@code p}'s device (made there at the first call), for a kernel about to be enqueued on {@code s}. */
    protected final DeviceBuffer lrBuffer(Tensor p, Stream s) {
        Tensor t = deviceLr.get(p.device());
        if (t == null) {
            t = Tensor.zeros(p.device(), DType.FLOAT32, 1);
            try (var ignored = GradMode.noGrad()) {
                t.fill_(lr);
            }
            deviceLr.put(p.device(), t);
        }
        return DeviceTensors.buffer(t, s);
    }

    /**
     * A device parameter's step count (its {@code step} state, one float32 on the parameter's
     * device) advanced by one on the device, before the update that reads it; a count loaded or
     * made elsewhere is moved there first.
     */
    protected static DeviceBuffer nextDeviceStep(Map<String, Tensor> st, Tensor p, DeviceContext context, Stream s) {
        Tensor step = st.get("step");
        if (step == null) {
            step = Tensor.zeros(p.device(), DType.FLOAT32, 1);
        } else if (!step.device().equals(p.device())) {
            step = step.detach().to(p.device());
        }
        st.put("step", step);
        DeviceBuffer b = DeviceTensors.writableBuffer(step, s, "the step count");
        context.ops().stepCountIncrement(s, b);
        return b;
    }

    /** The context of a device parameter, checked to be float32 and contiguous (its fused kernel writes it in place). */
    protected final dev.phalanx.kernels.DeviceContext deviceOf(Tensor p, Tensor g) {
        if (p.dtype() != dev.phalanx.tensor.DType.FLOAT32 || g.dtype() != dev.phalanx.tensor.DType.FLOAT32) {
            throw new IllegalStateException(getClass().getSimpleName() + " on " + p.device() + " updates float32 parameters, got "
                    + p.dtype().torchName() + " with a " + g.dtype().torchName() + " gradient");
        }
        return dev.phalanx.tensor.DeviceTensors.context(p);
    }

    /** The state buffer {@code name} of one parameter, created as zeros of n elements on first use. */
    protected static float[] buffer(Map<String, Tensor> st, String name, int n) {
        return st.computeIfAbsent(name, k -> Tensor.zeros(n)).data();
    }

    /** The step counter of one parameter, incremented: 1 on the first step. */
    protected static int nextStep(Map<String, Tensor> st) {
        Tensor t = st.computeIfAbsent("step", k -> Tensor.zeros(1));
        if (!t.device().isCpu()) st.put("step", t = t.detach().to(Device.CPU)); // the parameter came back from a device
        float[] step = t.data();
        return (int) ++step[0];
    }

    public final void zeroGrad() {
        for (Tensor p : params) p.zeroGrad();
    }

    public final float lr() {
        return lr;
    }

    /**
     * A new learning rate, from the next step. Where the kernels read it in device memory it is
     * written there too, by a fill enqueued on the device's current stream (the step's): a captured
     * step replayed after it uses it, with no new capture.
     */
    public final void setLr(float lr) {
        if (!(lr >= 0)) throw new IllegalArgumentException("Invalid learning rate: " + lr);
        this.lr = lr;
        try (var ignored = GradMode.noGrad()) {
            for (Tensor t : deviceLr.values()) t.fill_(lr);
        }
    }

    public final List<Tensor> params() {
        return params;
    }

    /**
     * The state tensors themselves (not copies) and the learning rate's device memory: what a
     * captured step reads and writes besides the parameters and their gradients.
     */
    public final List<Tensor> stateTensors() {
        List<Tensor> out = new ArrayList<>(deviceLr.values());
        for (Map<String, Tensor> st : state) out.addAll(st.values());
        return out;
    }

    /** Copies of the per-parameter state, by {@code state.<index>.<name>}. */
    public final Map<String, Tensor> stateDict() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < state.size(); i++) {
            for (var e : new java.util.TreeMap<>(state.get(i)).entrySet()) out.put("state." + i + "." + e.getKey(), e.getValue().clone());
        }
        return out;
    }

    public final void loadStateDict(Map<String, Tensor> saved) {
        List<Map<String, Tensor>> fresh = new ArrayList<>();
        for (int i = 0; i < params.size(); i++) fresh.add(new HashMap<>());
        for (var e : saved.entrySet()) {
            String[] parts = e.getKey().split("\\.", 3);
            if (parts.length != 3 || !parts[0].equals("state")) {
                throw new IllegalArgumentException("optimizer state: unexpected key '" + e.getKey() + "' (expected state.<index>.<name>)");
            }
            int i;
            try {
                i = Integer.parseInt(parts[1]);
            } catch (NumberFormatException ex) {
                throw new IllegalArgumentException("optimizer state: bad parameter index in key '" + e.getKey() + "'");
            }
            if (i < 0 || i >= params.size()) {
                throw new IllegalArgumentException("optimizer state: key '" + e.getKey() + "' names parameter " + i + " but there are "
                        + params.size() + " parameters");
            }
            // as torch.optim's load_state_dict: state goes to its parameter's device (a checkpoint is read on the host), the
            // step count too, where the device rules advance and read it (capturable=True)
            Tensor value = e.getValue();
            Tensor param = params.get(i);
            boolean move = !value.device().equals(param.device());
            fresh.get(i).put(parts[2], move ? value.detach().to(param.device()) : value.clone());
        }
        for (int i = 0; i < params.size(); i++) {
            state.set(i, fresh.get(i));
        }
    }
}
