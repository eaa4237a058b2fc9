package dev.phalanx.nn;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.kernels.Device;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.Shapes;
import dev.phalanx.tensor.Tensor;

/**
 * A layer or a network: named parameters, buffers and child modules, kept in the order they
 * were registered, which is the order PyTorch uses for {@code parameters()} and
 * {@code state_dict()}. Subclasses register what they own in their constructor:
 * <pre>{@code
 *   conv1 = register("conv1", new Conv2d(1, 6, 5, gen));
 * }</pre>
 */
public abstract class Module {

    private final Map<String, Tensor> parameters = new LinkedHashMap<>();
    private final Map<String, Tensor> buffers = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;
    private boolean fieldsChecked;

    /** The forward pass. */
    public abstract Tensor forward(Tensor input);

    protected final <M extends Module> M register(String name, M module) {
        checkName(name);
        children.put(name, module);
        return module;
    }

    /** Registers a trainable tensor (it is marked as requiring grad). */
    protected final Tensor registerParameter(String name, Tensor value) {
        checkName(name);
        parameters.put(name, value.requiresGrad(true));
        return value;
    }

    /** Registers state that is saved but not trained (BatchNorm's running statistics). */
    protected final Tensor registerBuffer(String name, Tensor value) {
        checkName(name);
        buffers.put(name, value);
        return value;
    }

    private void checkName(String name) {
        if (name.isEmpty() || name.contains(".")) throw new IllegalArgumentException("module attribute name '" + name + "' must be non-empty and contain no '.'");
        if (parameters.containsKey(name) || buffers.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException("attribute '" + name + "' already exists in " + typeName());
        }
    }

    /** The name printed by {@link #toString()}: the class name, as PyTorch prints it. */
    protected String typeName() {
        return getClass().getSimpleName();
    }

    /** The text inside the parentheses of a leaf's line, PyTorch's {@code extra_repr}. */
    protected String extraRepr() {
        return "";
    }

    /**
     * PyTorch registers a module or parameter the moment it is assigned to an attribute; Java
     * cannot, so the first use of the module (its parameters, state dict, children or printout)
     * checks that every field holding a module, or a tensor that requires grad, was registered:
     * one that was not would silently be missing from {@code parameters()} and the optimizer.
     */
    private void checkFieldsRegistered() {
        if (fieldsChecked) return;
        fieldsChecked = true;
        java.util.Set<Object> registered = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        registered.addAll(parameters.values());
        registered.addAll(buffers.values());
        registered.addAll(children.values());
        for (Class<?> c = getClass(); c != null && c != Module.class; c = c.getSuperclass()) {
            for (java.lang.reflect.Field f : c.getDeclaredFields()) {
                if (java.lang.reflect.Modifier.isStatic(f.getModifiers())) continue;
                boolean module = Module.class.isAssignableFrom(f.getType());
                if (!module && f.getType() != Tensor.class) continue;
                Object value;
                try {
                    f.setAccessible(true);
                    value = f.get(this);
                } catch (RuntimeException | IllegalAccessException e) {
                    continue; // a field of a class in a module that does not open it: cannot look, so cannot report
                }
                if (value == null || registered.contains(value)) continue;
                if (!module && !((Tensor) value).requiresGrad()) continue; // a constant, not a parameter
                fieldsChecked = false; // report again on the next use until fixed
                throw new IllegalStateException(c.getSimpleName() + "." + f.getName() + " holds a " + (module ? value.getClass().getSimpleName()
                        : "tensor that requires grad") + " that was never registered, so parameters() and the optimizer would miss it; "
                        + "in the constructor write " + f.getName() + " = " + (module ? "register" : "registerParameter") + "(\"" + f.getName()
                        + "\", ...)");
            }
        }
    }

    public final Map<String, Module> children() {
        checkFieldsRegistered();
        return java.util.Collections.unmodifiableMap(children);
    }

    /** Parameters of this module and its children, depth first, in registration order. */
    public final List<Tensor> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    public final Map<String, Tensor> namedParameters() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect("", out, false);
        return out;
    }

    /** Parameters and buffers by PyTorch's dotted names ({@code conv1.weight}); the live tensors, not copies. */
    public final Map<String, Tensor> stateDict() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        collect("", out, true);
        return out;
    }

    private void collect(String prefix, Map<String, Tensor> out, boolean withBuffers) {
        checkFieldsRegistered();
        parameters.forEach((k, v) -> out.put(prefix + k, v));
        if (withBuffers) buffers.forEach((k, v) -> out.put(prefix + k, v));
        children.forEach((k, m) -> m.collect(prefix + k + ".", out, withBuffers));
    }

    /**
     * Copies values into this module's tensors, in place (optimizers keep pointing at the same
     * parameters). Missing or unexpected keys and shape mismatches are reported together, as
     * PyTorch's {@code load_state_dict(strict=True)} does.
     */
    public final void loadStateDict(Map<String, Tensor> state) {
        Map<String, Tensor> own = stateDict();
        List<String> problems = new ArrayList<>();
        TreeSet<String> missing = new TreeSet<>(own.keySet());
        missing.removeAll(state.keySet());
        TreeSet<String> unexpected = new TreeSet<>(state.keySet());
        unexpected.removeAll(own.keySet());
        if (!missing.isEmpty()) problems.add("Missing key(s) in state_dict: " + missing + ".");
        if (!unexpected.isEmpty()) problems.add("Unexpected key(s) in state_dict: " + unexpected + ".");
        own.forEach((k, t) -> {
            Tensor src = state.get(k);
            if (src != null && !Arrays.equals(src.shape(), t.shape())) {
                problems.add("size mismatch for " + k + ": copying a param with shape " + Shapes.str(src.shape())
                        + ", the shape in current model is " + Shapes.str(t.shape()) + ".");
            }
        });
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("Error(s) in loading state_dict for " + typeName() + ":\n\t" + String.join("\n\t", problems));
        }
        try (var scope = GradMode.noGrad()) {
            own.forEach((k, t) -> {
                Tensor src = state.get(k);
                t.copy_(src); // converts the dtype where it differs, as PyTorch's load_state_dict does
            });
        }
    }

    /** Zeroes the gradients of every parameter (in place, keeping the arrays). */
    public final void zeroGrad() {
        for (Tensor p : parameters()) p.zeroGrad();
    }

    public Module train() {
        return train(true);
    }

    public Module train(boolean mode) {
        training = mode;
        children.values().forEach(c -> c.train(mode));
        return this;
    }

    public Module eval() {
        return train(false);
    }

    public final boolean isTraining() {
        return training;
    }

    /**
     * Moves parameters and buffers (and gradients there are) to {@code device} in place, as
     * PyTorch's {@code module.to(device)}: each tensor object stays, its data is copied there
     * ({@link Tensor#setData}), so layers and optimizers built on them keep working.
     */
    public Module to(Device device) {
        try (var ignored = GradMode.noGrad()) {
            for (Tensor t : stateDict().values()) {
                if (t.device().equals(device)) continue; // also a tensor shared by two modules, moved once
                t.setData(t.detach().to(device));
                Tensor g = t.isLeaf() ? t.grad() : null;
                if (g != null) g.setData(g.to(device));
            }
        }
        return this;
    }

    /**
     * PyTorch's {@code module.to(dtype)} ({@code module.double()} is {@code to(DType.FLOAT64)}):
     * every floating-point parameter and buffer, and their gradients, converted in place
     * ({@link Tensor#setData}); integer buffers such as {@code num_batches_tracked} keep their
     * dtype. The layers compute in float32 and give results in the parameters' dtype (DESIGN.md,
     * "Tensors and their storage"), so a float64 model trains at float32's precision.
     */
    public Module to(DType dtype) {
        if (!dtype.isFloatingPoint()) {
            throw new IllegalArgumentException("nn.Module.to only accepts floating point dtypes, but got desired dtype=" + dtype.torchName());
        }
        try (var ignored = GradMode.noGrad()) {
            for (Tensor t : stateDict().values()) {
                if (!t.dtype().isFloatingPoint() || t.dtype() == dtype) continue; // a tensor shared by two modules converts once
                t.setData(t.detach().to(dtype));
                Tensor g = t.isLeaf() ? t.grad() : null;
                if (g != null) g.setData(g.to(dtype));
            }
        }
        return this;
    }

    /** {@code module.to(device, dtype)}: moves, then converts. */
    public Module to(Device device, DType dtype) {
        return to(device).to(dtype);
    }

    /** The module tree, exactly as PyTorch prints it. */
    @Override
    public String toString() {
        StringBuilder b = new StringBuilder(typeName()).append('(');
        String extra = extraRepr();
        if (children.isEmpty()) return b.append(extra).append(')').toString();
        b.append('\n');
        if (!extra.isEmpty()) b.append("  ").append(extra).append('\n');
        children.forEach((name, child) -> b.append("  (").append(name).append("): ")
                .append(child.toString().replace("\n", "\n  ")).append('\n'));
        return b.append(')').toString();
    }
}
