package dev.phalanx.launcher;

import java.util.Arrays;
import java.util.concurrent.Callable;

import dev.phalanx.data.DataLoader;
import dev.phalanx.data.TensorDataset;
import dev.phalanx.nn.Linear;
import dev.phalanx.nn.Module;
import dev.phalanx.parallel.DataParallel;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code phalanx demo data-parallel}: the blitz's DataParallel experiment. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "The blitz's demonstrations. data-parallel: a Linear(5, 2) model on a random data set of 100 rows, batch 30; "
                + "each replica prints the shape of its shard, the caller the gathered batch.")
final class DemoCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "NAME", description = "data-parallel")
    String name;

    @Option(names = "--replicas", defaultValue = "2", description = "replicas (default: ${DEFAULT-VALUE})")
    int replicas;

    /** The blitz's Model: prints what each replica sees. */
    static final class Model extends Module {
        private final Linear fc;

        Model(int in, int out, Generator gen) {
            fc = register("fc", new Linear(in, out, gen));
        }

        @Override
        public Tensor forward(Tensor input) {
            Tensor output = fc.forward(input);
            System.out.println("\tIn Model: input size " + Arrays.toString(input.shape()) + " output size " + Arrays.toString(output.shape()));
            return output;
        }
    }

    @Override
    public Integer call() {
        if (!name.equals("data-parallel")) throw new IllegalArgumentException("unknown demo '" + name + "'; available: data-parallel");
        Generator gen = new Generator(0);
        TensorDataset data = new TensorDataset(Tensor.randn(gen, 100, 5), Tensor.zeros(dev.phalanx.tensor.DType.INT64, 100));
        System.out.println("Let's use " + replicas + " replicas (cpu)");
        try (DataParallel dp = DataParallel.wrap(() -> new Model(5, 2, new Generator(1)), replicas);
             DataLoader loader = new DataLoader(data, 30, true, 0, false, 0, 1)) {
            for (var batch : loader.epoch(0)) {
                Tensor output = dp.forward(batch.inputs());
                System.out.println("Outside: input size " + Arrays.toString(batch.inputs().shape()) + " output_size " + Arrays.toString(output.shape()));
            }
        }
        return 0;
    }
}
