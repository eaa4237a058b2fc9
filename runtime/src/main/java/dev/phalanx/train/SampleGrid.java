package dev.phalanx.train;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

import javax.imageio.ImageIO;

import dev.phalanx.data.Dataset;
import dev.phalanx.data.Example;
import dev.phalanx.io.AtomicFiles;

/**
 * The blitz's {@code imshow(torchvision.utils.make_grid(images))} for the first test images:
 * 8 per row, 2 pixels of padding, each image un-normalised ({@code x * std + mean}). The
 * padding around an image is green where the model's prediction is right and red where it is
 * wrong, so the grid carries its labels without a font (the class names go beside it: in
 * {@code phalanx eval}'s GroundTruth/Predicted lines and in the dashboard's captions).
 */
public final class SampleGrid {

    /** torchvision's make_grid defaults. */
    public static final int PER_ROW = 8, PADDING = 2;
    private static final int RIGHT = 0x2ca02c, WRONG = 0xd62728;

    private SampleGrid() { }

    /** A PNG of the first {@code predictions.length} images of {@code test}. */
    public static byte[] png(Dataset test, int[] predictions, float[] mean, float[] std) {
        int n = Math.min(predictions.length, test.size());
        if (n == 0) throw new IllegalArgumentException("no test images to draw");
        int[] shape = test.get(0).input().shape();
        int c = shape[0], h = shape[1], w = shape[2];
        int cols = Math.min(PER_ROW, n), rows = (n + PER_ROW - 1) / PER_ROW;
        BufferedImage img = new BufferedImage(cols * (w + PADDING) + PADDING, rows * (h + PADDING) + PADDING, BufferedImage.TYPE_INT_RGB);
        for (int i = 0; i < n; i++) {
            Example e = test.get(i);
            float[] x = e.input().contiguousFloats();
            int x0 = PADDING + (i % PER_ROW) * (w + PADDING), y0 = PADDING + (i / PER_ROW) * (h + PADDING);
            int frame = predictions[i] == e.label() ? RIGHT : WRONG;
            for (int yy = -PADDING; yy < h + PADDING; yy++) {
                for (int xx = -PADDING; xx < w + PADDING; xx++) {
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w) img.setRGB(x0 + xx, y0 + yy, frame);
                }
            }
            for (int yy = 0; yy < h; yy++) {
                for (int xx = 0; xx < w; xx++) {
                    int rgb = 0;
                    for (int k = 0; k < 3; k++) {
                        int ch = c == 1 ? 0 : k;
                        float v = x[(ch * h + yy) * w + xx] * std[Math.min(ch, std.length - 1)] + mean[Math.min(ch, mean.length - 1)];
                        rgb = (rgb << 8) | Math.round(Math.max(0f, Math.min(1f, v)) * 255f);
                    }
                    img.setRGB(x0 + xx, y0 + yy, rgb);
                }
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(img, "png", out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** Writes {@code samples.png} into a folder, atomically. */
    public static Path write(Path dir, Dataset test, int[] predictions, float[] mean, float[] std) throws IOException {
        Path file = dir.resolve("samples.png");
        AtomicFiles.writeBytes(file, png(test, predictions, mean, std));
        return file;
    }
}
