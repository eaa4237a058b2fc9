package dev.phalanx.optim;

import java.util.List;

import dev.phalanx.tensor.Tensor;

/** Adam with decoupled weight decay (default 0.01), as {@code torch.optim.AdamW}. */
public final class AdamW extends Adam {

    public AdamW(List<Tensor> params, float lr) {
        this(params, lr, 0.9f, 0.999f, 1e-8f, 0.01f);
    }

    public AdamW(List<Tensor> params, float lr, float beta1, float beta2, float eps, float weightDecay) {
        super(params, lr, beta1, beta2, eps, weightDecay, true);
    }
}
