package dev.phalanx.blitz;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

import dev.phalanx.autograd.GradMode;
import dev.phalanx.kernels.Device;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceStorage;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * The classifier chapter's evaluation, overall and per class, written as the blitz writes it
 * ({@code _, predicted = torch.max(outputs, 1)}, {@code (predicted == labels).squeeze()},
 * {@code (predicted == labels).sum().item()}, {@code class_correct[label] += c[i].item()}), with the
 * network, images and labels on a device: max, eq and sum run there, and only the per-image
 * results and the counts come back; the logits are never copied to the host. The counts equal the
 * cpu run's.
 */
class AccuracyOnDeviceTest {

    /** {@code sim:12} here, {@code cuda:0} in {@link AccuracyOnDeviceGpuTest}. */
    protected Device device() {
        return Device.sim(12);
    }

    private record Counts(long correct, long total, double[] classCorrect, double[] classTotal) { }

    @Test
    void theAccuracyPerClassRunsOnTheDeviceWithoutReadingTheLogits() {
        Device d = device();
        LeNet cpuNet = LeNet.cifar(new Generator(3)), devNet = LeNet.cifar(new Generator(3));
        devNet.to(d);
        Counts cpu = evaluate(cpuNet, Device.CPU), dev = evaluate(devNet, d);
        assertEquals(cpu.total(), dev.total());
        assertEquals(cpu.correct(), dev.correct(), "correct predictions");
        assertArrayEquals(cpu.classTotal(), dev.classTotal(), "class_total");
        assertArrayEquals(cpu.classCorrect(), dev.classCorrect(), "class_correct");
        assertTrue(cpu.correct() > 0 && cpu.correct() < cpu.total(), "some right, some wrong: " + cpu.correct() + " of " + cpu.total());
    }

    /**
     * 25 batches of 4 images of 10 classes, as the blitz's testloader; half the labels are the cpu
     * network's own prediction (so that every class sees right and wrong answers), half random.
     */
    private Counts evaluate(LeNet net, Device device) {
        LeNet reference = LeNet.cifar(new Generator(3));
        Generator data = new Generator(4);
        long correct = 0, total = 0;
        double[] classCorrect = new double[10], classTotal = new double[10];
        try (var ignored = GradMode.noGrad()) {
            for (int batch = 0; batch < 25; batch++) {
                Tensor images = Tensor.randn(data, 4, 3, 32, 32);
                long[] y = Tensor.randint(data, 0, 10, 4).longData().clone();
                Tensor own = reference.forward(images).argmax(1);
                for (int i = 0; i < 4; i += 2) y[i] = own.longData()[i];
                Tensor labels = Tensor.ofLongs(y).to(device);
                Tensor outputs = net.forward(images.to(device));
                // _, predicted = torch.max(outputs, 1)
                Tensor predicted = outputs.max(1, false).indices();
                total += labels.size(0);
                correct += predicted.eq(labels).sum().longItem(); // correct += (predicted == labels).sum().item()
                Tensor c = predicted.eq(labels).squeeze();
                for (int i = 0; i < 4; i++) {
                    int label = (int) labels.select(0, i).longItem();
                    classCorrect[label] += c.select(0, i).item();
                    classTotal[label] += 1;
                }
                if (!device.isCpu()) {
                    assertEquals(device, predicted.device(), "the max ran on the device");
                    assertEquals(DType.INT64, predicted.dtype());
                    assertEquals(DType.BOOL, c.dtype());
                    assertEquals(0, ((DeviceStorage) outputs.storage()).hostCopies(), "the logits stayed on the device");
                }
            }
        }
        return new Counts(correct, total, classCorrect, classTotal);
    }
}
