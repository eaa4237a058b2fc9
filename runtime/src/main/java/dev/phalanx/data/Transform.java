package dev.phalanx.data;

import java.util.List;

import dev.phalanx.tensor.Tensor;

/** A per-example transform, like torchvision's. */
@FunctionalInterface
public interface Transform {

    Tensor apply(Tensor input);

    /** Pixel values 0..255 to floats in [0, 1] (torchvision's ToTensor on 8-bit images). */
    static Transform toTensor() {
        return x -> x.mul(1f / 255f);
    }

    /** (x - mean[c]) / std[c] per channel of a CHW image. */
    static Transform normalize(float[] mean, float[] std) {
        if (mean.length != std.length || mean.length == 0) {
            throw new IllegalArgumentException("normalize: mean and std need one value per channel, got " + mean.length + " and " + std.length);
        }
        for (float s : std) if (s == 0) throw new IllegalArgumentException("normalize: std contains 0");
        return x -> {
            int c = x.size(0);
            if (c != mean.length) {
                throw new IllegalArgumentException("normalize: image has " + c + " channels but mean/std have " + mean.length);
            }
            float[] in = x.contiguousFloats(), out = new float[in.length];
            int plane = in.length / c;
            for (int ch = 0; ch < c; ch++) {
                float m = mean[ch], inv = 1f / std[ch];
                for (int i = ch * plane; i < (ch + 1) * plane; i++) out[i] = (in[i] - m) * inv;
            }
            return Tensor.of(out, x.shape());
        };
    }

    static Transform compose(List<Transform> transforms) {
        List<Transform> ts = List.copyOf(transforms);
        return x -> {
            for (Transform t : ts) x = t.apply(x);
            return x;
        };
    }
}
