package dev.phalanx.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.phalanx.tensor.Tensor;

class DataLoaderTest {

    private static TensorDataset numbers(int n) {
        float[] x = new float[n * 2];
        long[] y = new long[n];
        for (int i = 0; i < n; i++) {
            x[2 * i] = i;
            x[2 * i + 1] = -i;
            y[i] = i;
        }
        return new TensorDataset(Tensor.of(x, n, 2), Tensor.ofLongs(y, n));
    }

    private static List<Long> labels(DataLoader.Epoch e) {
        List<Long> out = new ArrayList<>();
        for (Batch b : e) for (long l : b.labels().longData()) out.add(l);
        return out;
    }

    @Test
    void batchesAndTheLastSmallerOne() {
        try (DataLoader l = new DataLoader(numbers(10), 4)) {
            assertEquals(3, l.batchesPerEpoch());
            List<Integer> sizes = new ArrayList<>();
            for (Batch b : l.epoch(0)) sizes.add(b.size());
            assertEquals(List.of(4, 4, 2), sizes);
            Batch first = l.epoch(0).next();
            assertArrayEquals(new int[] {4, 2}, first.inputs().shape());
            assertArrayEquals(new float[] {0, 0, 1, -1, 2, -2, 3, -3}, first.inputs().data());
        }
        try (DataLoader l = new DataLoader(numbers(10), 4, false, 0, true, 0, 1)) {
            assertEquals(2, l.batchesPerEpoch());
        }
    }

    @Test
    void shuffleDependsOnSeedAndEpochOnly() {
        try (DataLoader a = new DataLoader(numbers(50), 8, true, 7, false, 2, 3);
             DataLoader b = DataLoader.builder(numbers(50)).batchSize(8).shuffle(true).seed(7).workers(0).prefetch(1).build();
             DataLoader c = new DataLoader(numbers(50), 8, true, 8, false, 0, 1)) {
            List<Long> a0 = labels(a.epoch(0));
            assertEquals(a0, labels(b.epoch(0)), "background workers change nothing");
            assertNotEquals(a0, labels(a.epoch(1)), "each epoch is shuffled anew");
            assertNotEquals(a0, labels(c.epoch(0)), "another seed, another order");
            List<Long> sorted = new ArrayList<>(a0);
            sorted.sort(null);
            for (int i = 0; i < 50; i++) assertEquals(i, sorted.get(i));
        }
    }

    @Test
    void anEpochResumesAtAnyBatch() {
        try (DataLoader l = new DataLoader(numbers(50), 8, true, 3, false, 1, 2)) {
            List<Long> all = labels(l.epoch(2));
            List<Long> rest = labels(l.epoch(2, 4));
            assertEquals(all.subList(32, 50), rest);
            assertThrows(IllegalArgumentException.class, () -> l.epoch(0, 99));
        }
    }

    @Test
    void badSettingsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new DataLoader(numbers(5), 0));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new TensorDataset(Tensor.zeros(3, 2), Tensor.ofLongs(1, 2)));
        assertEquals("TensorDataset: Size mismatch between tensors: 3 inputs and 2 labels", e.getMessage());
    }

    @Test
    void normalizeIsPerChannel() {
        Transform t = Transform.compose(List.of(Transform.toTensor(), Transform.normalize(new float[] {0.5f, 0f}, new float[] {0.5f, 1f})));
        Tensor x = Tensor.of(new float[] {255, 0, 255, 51}, 2, 1, 2);
        assertArrayEquals(new float[] {1f, -1f, 1f, 0.2f}, t.apply(x).data(), 1e-6f);
        assertThrows(IllegalArgumentException.class, () -> Transform.normalize(new float[] {0.5f}, new float[] {0.5f}).apply(x));
    }
}
