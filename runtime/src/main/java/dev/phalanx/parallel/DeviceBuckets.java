package dev.phalanx.parallel;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.device.DeviceApi;
import dev.phalanx.kernels.device.DeviceBuffer;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.tensor.Tensor;

/**
 * A device replica's gradient buckets in device memory. Per bucket, two flat float32 tensors made
 * once: the replica's contribution (its gradients, concatenated as {@link GradientBuckets#flatten}
 * does) and the sum the all-reduce leaves for it. The contribution is never written by the
 * all-reduce, so a replica that failed can offer its bucket again and the sum is taken anew from
 * the others' intact contributions, as the host all-reduce's copies allow. Every copy is enqueued
 * on the stream this thread has bound for the device (the replica's own); nothing here waits for
 * the device except {@link #download}.
 */
final class DeviceBuckets {

    private final GradientBuckets buckets;
    private final DeviceContext context;
    private final Tensor[] contributions;
    private final Tensor[] sums;

    DeviceBuckets(GradientBuckets buckets, DeviceContext context) {
        this.buckets = buckets;
        this.context = context;
        contributions = new Tensor[buckets.count()];
        sums = new Tensor[buckets.count()];
        for (int b = 0; b < buckets.count(); b++) {
            contributions[b] = DeviceTensors.empty(context, DType.FLOAT32, buckets.size(b));
            sums[b] = DeviceTensors.empty(context, DType.FLOAT32, buckets.size(b));
        }
    }

    /** The bucket's gradients copied into its contribution (zeros for a parameter without one); returns the contribution. */
    Tensor flatten(int bucket) {
        Stream s = context.stream();
        DeviceApi api = context.api();
        DeviceBuffer flat = DeviceTensors.buffer(contributions[bucket], s);
        long offset = 0;
        for (Tensor p : buckets.params(bucket)) {
            long bytes = (long) p.numel() * Float.BYTES;
            if (bytes > 0) {
                DeviceBuffer part = flat.slice(offset, bytes);
                if (p.grad() == null) api.fillZero(part, s);
                else api.copyDeviceToDevice(DeviceTensors.buffer(gradOf(p), s), part, bytes, s);
            }
            offset += bytes;
        }
        return contributions[bucket];
    }

    /** The sum the all-reduce writes for this replica's {@code bucket}. */
    Tensor sum(int bucket) {
        return sums[bucket];
    }

    /** The contribution's values on the host (the host all-reduce's fallback): waits for the copies before it. */
    float[] download(int bucket) {
        return contributions[bucket].to(Device.CPU).data();
    }

    /** The host all-reduce's sum, copied into this replica's sum tensor. */
    void upload(int bucket, float[] values) {
        try (var ignored = GradMode.noGrad()) {
            sums[bucket].copy_(Tensor.of(values, buckets.size(bucket)));
        }
    }

    /** Writes the bucket's sum back as the parameters' gradients (made as zeros on the device where missing). */
    void unflatten(int bucket) {
        Stream s = context.stream();
        DeviceApi api = context.api();
        DeviceBuffer flat = DeviceTensors.buffer(sums[bucket], s);
        long offset = 0;
        for (Tensor p : buckets.params(bucket)) {
            long bytes = (long) p.numel() * Float.BYTES;
            if (p.grad() == null) p.setGrad(Tensor.zerosLike(p));
            if (bytes > 0) api.copyDeviceToDevice(flat.slice(offset, bytes), DeviceTensors.writableBuffer(p.grad(), s, "the all-reduce"), bytes, s);
            offset += bytes;
        }
    }

    private static Tensor gradOf(Tensor p) {
        Tensor g = p.grad();
        if (g.dtype() != DType.FLOAT32) {
            throw new IllegalStateException("data-parallel replicas on " + p.device() + " reduce float32 gradients, got " + g.dtype().torchName());
        }
        return g;
    }
}
