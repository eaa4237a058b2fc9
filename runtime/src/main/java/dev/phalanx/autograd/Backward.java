package dev.phalanx.autograd;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Tensor;

/**
 * The reverse walk over the tape: visits the recorded nodes that lead to the root in reverse
 * topological order, sums the gradients that reach each intermediate tensor, and accumulates
 * into {@code .grad} of the leaves that require it. Intermediate gradients that ops took from
 * the backend's buffer pool go back to it as soon as the walk is done with them
 * ({@link GradBuffers}; DESIGN.md, "Buffer reuse").
 */
public final class Backward {

    private Backward() { }

    public static void run(Tensor root, Tensor gradient) {
        run(root, gradient, false, null);
    }

    public static void run(Tensor root, Tensor gradient, boolean retainGraph) {
        run(root, gradient, retainGraph, null);
    }

    public static void run(Tensor root, Tensor gradient, java.util.function.Consumer<Tensor> onLeafReady) {
        run(root, gradient, false, onLeafReady);
    }

    /**
     * As {@link #run(Tensor, Tensor)}, calling {@code onLeafReady} once for each leaf as soon as
     * its gradient is complete (every node that uses it has been visited): data-parallel replicas
     * start reducing a bucket of gradients while backward goes on with the earlier layers.
     */
    public static void run(Tensor root, Tensor gradient, boolean retainGraph, java.util.function.Consumer<Tensor> onLeafReady) {
        if (!root.requiresGrad()) {
            throw new IllegalStateException("element 0 of tensors does not require grad and does not have a grad_fn");
        }
        if (gradient == null) {
            if (root.numel() != 1) {
                throw new IllegalStateException("grad can be implicitly created only for scalar outputs; call backward(gradient) "
                        + "with a gradient of shape " + Arrays.toString(root.shape()));
            }
            gradient = Tensor.onesLike(root);
        } else if (!gradient.device().equals(root.device())) {
            throw new IllegalArgumentException("backward: the gradient is on " + gradient.device() + " but the output is on " + root.device()
                    + "; move it with to(" + (root.device().isCpu() ? "Device.CPU" : "Device.parse(\"" + root.device() + "\")") + ")");
        } else if (!Arrays.equals(gradient.shape(), root.shape())) {
            throw new IllegalArgumentException("backward: gradient has shape " + Arrays.toString(gradient.shape())
                    + " but the output has shape " + Arrays.toString(root.shape()));
        }
        try (GradMode.Scope ignored = GradMode.noGrad()) {
            if (root.gradFn() == null) {
                accumulate(root, gradient);
                if (onLeafReady != null) onLeafReady.accept(root);
                return;
            }
            List<Tensor> order = topologicalOrder(root);
            Map<Tensor, int[]> uses = onLeafReady == null ? null : leafUses(order);
            Map<Tensor, Tensor> pending = new IdentityHashMap<>();
            pending.put(root, gradient); // the caller's (or a fresh ones tensor): never pooled, never written
            GradBuffers buffers = new GradBuffers(Backends.cpu().buffers());
            for (int i = order.size() - 1; i >= 0; i--) {
                Tensor t = order.get(i);
                Tensor g = pending.remove(t);
                if (g == null) continue;
                if (t.retainsGrad()) accumulate(t, g); // a copy
                Node node = t.gradFn();
                node.checkUsable();
                Tensor[] inputs = node.inputs();
                boolean forgets = node.forgetsGradOutput();
                Tensor[] grads = forgets && buffers.sole(g) ? node.backwardReusing(g) : node.backward(g);
                if (!retainGraph) node.release();
                for (Tensor gk : grads) buffers.hold(gk); // before g is dropped: a node may return g or a view of it
                if (forgets) buffers.drop(g); else buffers.escape(g);
                for (int k = 0; k < inputs.length; k++) {
                    Tensor in = inputs[k], gk = grads[k];
                    if (in == null || !in.requiresGrad()) {
                        buffers.drop(gk);
                    } else if (in.gradFn() == null) {
                        if (gk != null) {
                            accumulate(in, gk); // a copy, or added into .grad
                            buffers.drop(gk);
                        }
                        if (uses != null && --uses.get(in)[0] == 0) onLeafReady.accept(in);
                    } else if (gk != null) {
                        Tensor before = pending.get(in);
                        if (before == null) {
                            pending.put(in, gk);
                        } else {
                            pending.put(in, before.add(gk)); // a new tensor, not pooled
                            buffers.drop(before);
                            buffers.drop(gk);
                        }
                    }
                }
            }
        }
    }

    static void accumulate(Tensor leaf, Tensor g) {
        Tensor current = leaf.isLeaf() ? leaf.grad() : leaf.retainedGrad();
        if (current == null) {
            leaf.setGrad(g.to(leaf.dtype()).clone()); // a copy: backward functions may hand the same tensor to several inputs
        } else {
            current.add_(g);
        }
    }

    /** How many gradient contributions each leaf will receive: one per use by a visited node. */
    private static Map<Tensor, int[]> leafUses(List<Tensor> order) {
        Map<Tensor, int[]> uses = new IdentityHashMap<>();
        for (Tensor t : order) {
            for (Tensor in : t.gradFn().inputs()) {
                if (in != null && in.gradFn() == null && in.requiresGrad()) uses.computeIfAbsent(in, k -> new int[1])[0]++;
            }
        }
        return uses;
    }

    /** Non-leaf tensors reachable from root, each after all the tensors it was computed from. */
    private static List<Tensor> topologicalOrder(Tensor root) {
        List<Tensor> order = new ArrayList<>();
        Map<Tensor, Boolean> seen = new IdentityHashMap<>();
        Deque<Object[]> stack = new ArrayDeque<>();
        stack.push(new Object[] {root, 0});
        seen.put(root, Boolean.TRUE);
        while (!stack.isEmpty()) {
            Object[] frame = stack.peek();
            Tensor t = (Tensor) frame[0];
            Tensor[] inputs = t.gradFn().inputs();
            int next = (Integer) frame[1];
            boolean descended = false;
            while (next < inputs.length) {
                Tensor in = inputs[next++];
                if (in != null && in.gradFn() != null && in.requiresGrad() && seen.put(in, Boolean.TRUE) == null) {
                    frame[1] = next;
                    stack.push(new Object[] {in, 0});
                    descended = true;
                    break;
                }
            }
            if (!descended) {
                stack.pop();
                order.add(t);
            }
        }
        return order;
    }
}
