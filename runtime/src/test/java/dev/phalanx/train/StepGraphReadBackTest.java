package dev.phalanx.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.nn.models.LeNet;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;

/**
 * A snapshot (a checkpoint's read-back) between replays of one replica's captured step reads the
 * parameters the replays wrote: the first read-back leaves the parameters' storages on the copy
 * stream, which a replay does not order, so without {@link StepGraph#replay} marking what the graph
 * wrote as last used on the step's stream, every later snapshot read the values of the first
 * (found with the data-parallel graph, whose replicas do the same after each launch).
 */
class StepGraphReadBackTest {

    @Test
    void aSnapshotAfterEachReplayHasTheEagerRunsParameters() {
        List<List<Map<String, Tensor>>> runs = new ArrayList<>();
        for (boolean graph : new boolean[] {false, true}) {
            List<Map<String, Tensor>> snapshots = new ArrayList<>();
            Generator gen = new Generator(11);
            try (LocalSteps steps = new LocalSteps(LeNet.cifar(new Generator(7)), p -> new SGD(p, 0.01f, 0.9f), F::crossEntropy,
                    CpuBackend.create(1), false, Device.sim(77), graph, s -> { })) {
                for (int i = 0; i < 7; i++) {
                    steps.step(Tensor.randn(gen, 8, 3, 32, 32), Tensor.randint(gen, 0, 10, 8));
                    if (i >= 2) snapshots.add(steps.snapshot().model()); // after the capture's step, then after each replay
                }
                if (graph) assertTrue(steps.replays() >= 5, "the steps were replays: " + steps.replays());
            }
            runs.add(snapshots);
        }
        for (int i = 0; i < runs.get(0).size(); i++) {
            for (String k : runs.get(0).get(i).keySet()) {
                assertArrayEquals(runs.get(0).get(i).get(k).contiguousFloats(), runs.get(1).get(i).get(k).contiguousFloats(),
                        "snapshot " + i + ", " + k + ": the eager run's bits");
            }
        }
    }
}
