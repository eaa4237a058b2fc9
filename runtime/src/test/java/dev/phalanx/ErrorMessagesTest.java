package dev.phalanx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;

import dev.phalanx.nn.F;
import dev.phalanx.nn.Linear;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/** Every op that takes two tensors names itself and both shapes when they do not fit. */
class ErrorMessagesTest {

    private static String message(Runnable r) {
        return assertThrows(RuntimeException.class, r::run).getMessage();
    }

    @Test
    void linearNamesBothMatricesAsPyTorchDoes() {
        Linear fc1 = new Linear(400, 120, new Generator(0));
        assertEquals("mat1 and mat2 shapes cannot be multiplied (4x256 and 400x120)", message(() -> fc1.forward(Tensor.zeros(4, 256))));
        assertEquals("mat1 and mat2 shapes cannot be multiplied (4x3 and 5x2)", message(() -> Tensor.zeros(4, 3).matmul(Tensor.zeros(5, 2))));
    }

    @Test
    void theBlitzsLeNetFedFashionMnistSizedImages() {
        LeNet cifar = LeNet.cifar(new Generator(0));
        String m = message(() -> cifar.forward(Tensor.zeros(4, 1, 28, 28)));
        assertEquals("conv2d: Given groups=1, weight of size [6, 3, 5, 5], expected input[4, 1, 28, 28] to have 3 channels, but got 1 channels instead", m);
        LeNet net = new LeNet(3, 32, 10, new Generator(0));
        assertEquals("mat1 and mat2 shapes cannot be multiplied (4x256 and 400x120)", message(() -> net.forward(Tensor.zeros(4, 3, 28, 28))));
    }

    @Test
    void elementwiseOpsNameTheOpAndBothShapes() {
        String m = message(() -> Tensor.zeros(2, 3).add(Tensor.zeros(3, 2)));
        assertEquals("add: The size of tensor a (3) must match the size of tensor b (2) at non-singleton dimension 1 (shapes [2, 3] and [3, 2])", m);
        assertTrue(message(() -> Tensor.zeros(2, 3).mul(Tensor.zeros(4))).startsWith("mul: "));
        assertTrue(message(() -> Tensor.zeros(2, 3).sub(Tensor.zeros(4))).startsWith("sub: "));
        assertTrue(message(() -> Tensor.zeros(2, 3).div(Tensor.zeros(4))).startsWith("div: "));
    }

    @Test
    void lossesNameTheirInputs() {
        assertEquals("mse_loss: input and target shapes must match, got [4, 5] and [4, 6]",
                message(() -> F.mseLoss(Tensor.zeros(4, 5), Tensor.zeros(4, 6))));
        assertEquals("nll_loss: Expected input batch_size (4) to match target batch_size (3); input [4, 10], target [3]",
                message(() -> F.crossEntropy(Tensor.zeros(4, 10), Tensor.ofLongs(1, 2, 3))));
        assertEquals("nll_loss: Target 10 is out of bounds (row 1, 10 classes)",
                message(() -> F.crossEntropy(Tensor.zeros(2, 10), Tensor.ofLongs(1, 10))));
        assertTrue(message(() -> F.crossEntropy(Tensor.zeros(2, 10), Tensor.of(1f, 2f))).contains("torch.int64"));
    }

    @Test
    void shapeOpsExplainThemselves() {
        assertEquals("view: shape '[5, -1]' is invalid for input of size 12", message(() -> Tensor.zeros(3, 4).view(5, -1)));
        assertEquals("cat(): Sizes of tensors must match except in dimension 0. Expected size 4 but got size 3 for tensor number 1 in the list.",
                message(() -> Tensor.cat(List.of(Tensor.zeros(2, 4), Tensor.zeros(2, 3)), 0)));
        assertEquals("size: Dimension out of range (expected to be in range of [-2, 1], but got 2)", message(() -> Tensor.zeros(2, 2).size(2)));
        assertTrue(message(() -> Tensor.zeros(2, 2).narrow(0, 1, 5)).startsWith("narrow: start (1) + length (5) exceeds"));
    }

    @Test
    void movingToCudaWithoutAGpuSaysWhyInOneLine() {
        org.junit.jupiter.api.Assumptions.assumeFalse(dev.phalanx.kernels.Cuda.isAvailable(), "a GPU is present: the move succeeds");
        String m = message(() -> Tensor.zeros(2).to(dev.phalanx.kernels.Device.cuda(0)));
        assertTrue(m.startsWith("no CUDA device: ") && !m.contains("\n"), m);
    }
}
