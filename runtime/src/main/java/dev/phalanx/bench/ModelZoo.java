package dev.phalanx.bench;

import java.util.List;

import dev.phalanx.nn.Module;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.tensor.Generator;

/** Networks known by name to the CLI: what they are and the input they take. */
public final class ModelZoo {

    private ModelZoo() { }

    /** A model and its input shape per example. */
    public record Spec(String name, String description, int channels, int size, int classes) {
        public Module build(Generator gen) {
            return switch (name) {
                case "cifar-lenet" -> LeNet.cifar(gen);
                case "fashion-lenet" -> new LeNet(1, 28, 10, gen);
                case "cifar-wide" -> new LeNet(3, 32, 10, 64, 128, gen);
                default -> throw new IllegalStateException(name);
            };
        }
    }

    public static final List<Spec> MODELS = List.of(
            new Spec("cifar-lenet", "the blitz's CIFAR-10 LeNet: 3x32x32, conv 6 and 16, fc 120/84/10", 3, 32, 10),
            new Spec("fashion-lenet", "LeNet for 1x28x28 (Fashion-MNIST): conv 6 and 16, fc 256/120/84/10", 1, 28, 10),
            new Spec("cifar-wide", "a wide CIFAR CNN: as cifar-lenet with conv 64 and 128 channels", 3, 32, 10));

    public static Spec get(String name) {
        for (Spec s : MODELS) if (s.name.equals(name)) return s;
        throw new IllegalArgumentException("unknown model '" + name + "'; known models: "
                + String.join(", ", MODELS.stream().map(Spec::name).toList()));
    }
}
