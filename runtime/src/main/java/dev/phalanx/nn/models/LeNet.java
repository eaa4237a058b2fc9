package dev.phalanx.nn.models;

import dev.phalanx.nn.Conv2d;
import dev.phalanx.nn.F;
import dev.phalanx.nn.Linear;
import dev.phalanx.nn.Module;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * The blitz's network: conv(5x5) -> relu -> maxpool 2 -> conv(5x5) -> relu -> maxpool 2 ->
 * fc 120 -> fc 84 -> fc classes. For 3x32x32 (CIFAR-10) and 1x32x32 the flattened size is
 * 16*5*5 = 400; for 1x28x28 (MNIST, Fashion-MNIST) it is 16*4*4 = 256.
 */
public final class LeNet extends Module {

    public final Conv2d conv1, conv2;
    public final Linear fc1, fc2, fc3;

    public LeNet(int inChannels, int imageSize, int classes, int conv1Channels, int conv2Channels, Generator gen) {
        int afterConv1 = imageSize - 4, afterPool1 = afterConv1 / 2, afterConv2 = afterPool1 - 4, afterPool2 = afterConv2 / 2;
        if (afterPool2 < 1) throw new IllegalArgumentException("LeNet: images of " + imageSize + "x" + imageSize + " are too small (need >= 13)");
        conv1 = register("conv1", new Conv2d(inChannels, conv1Channels, 5, gen));
        conv2 = register("conv2", new Conv2d(conv1Channels, conv2Channels, 5, gen));
        fc1 = register("fc1", new Linear(conv2Channels * afterPool2 * afterPool2, 120, gen));
        fc2 = register("fc2", new Linear(120, 84, gen));
        fc3 = register("fc3", new Linear(84, classes, gen));
    }

    public LeNet(int inChannels, int imageSize, int classes, Generator gen) {
        this(inChannels, imageSize, classes, 6, 16, gen);
    }

    /** The blitz's CIFAR-10 network (3x32x32, 10 classes). */
    public static LeNet cifar(Generator gen) {
        return new LeNet(3, 32, 10, gen);
    }

    @Override
    public Tensor forward(Tensor x) {
        x = F.maxPool2d(F.relu(conv1.forward(x)), 2);
        x = F.maxPool2d(F.relu(conv2.forward(x)), 2);
        x = x.flatten(1);
        x = F.relu(fc1.forward(x));
        x = F.relu(fc2.forward(x));
        return fc3.forward(x);
    }
}
