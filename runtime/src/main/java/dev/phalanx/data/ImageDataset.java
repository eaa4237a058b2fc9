package dev.phalanx.data;

import java.util.List;

import dev.phalanx.tensor.Tensor;

/** 8-bit images (N x C x H x W bytes) and their labels, read from IDX or CIFAR files. */
public final class ImageDataset implements Dataset {

    private final byte[] pixels;
    private final byte[] labels;
    private final int channels, height, width;
    private final List<String> classes;
    private final Transform transform;

    public ImageDataset(byte[] pixels, byte[] labels, int channels, int height, int width, List<String> classes, Transform transform) {
        int image = channels * height * width;
        if ((long) labels.length * image != pixels.length) {
            throw new IllegalArgumentException(labels.length + " labels do not match " + pixels.length + " bytes of " + channels + "x"
                    + height + "x" + width + " images");
        }
        this.pixels = pixels;
        this.labels = labels;
        this.channels = channels;
        this.height = height;
        this.width = width;
        this.classes = List.copyOf(classes);
        this.transform = transform;
    }

    @Override
    public int size() {
        return labels.length;
    }

    @Override
    public Example get(int index) {
        int image = channels * height * width;
        float[] d = new float[image];
        for (int i = 0, o = index * image; i < image; i++) d[i] = pixels[o + i] & 0xff;
        Tensor x = Tensor.of(d, channels, height, width);
        return new Example(transform == null ? x : transform.apply(x), labels[index] & 0xff);
    }

    @Override
    public List<String> classes() {
        return classes;
    }

    /** The raw label bytes (for tests and reports). */
    public int label(int index) {
        return labels[index] & 0xff;
    }
}
