package dev.phalanx.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeSet;

import dev.phalanx.io.SafeTensors;
import dev.phalanx.tensor.Tensor;

/**
 * The golden tensors made by PyTorch: read from {@code -Dphalanx.golden.dir} when given, else
 * from the copy in the test resources.
 */
public final class Golden {

    /** The golden README's mixed tolerance for ops and the LeNet step. */
    public static final double ATOL = 1e-6, RTOL = 1e-5;

    private Golden() { }

    public static Map<String, Tensor> load(String file) {
        String dir = System.getProperty("phalanx.golden.dir", "");
        try {
            if (!dir.isBlank()) return SafeTensors.read(Path.of(dir, file)).tensors();
            try (InputStream in = Golden.class.getResourceAsStream("/golden/" + file)) {
                if (in == null) throw new IllegalStateException("golden file " + file + " is missing from the test resources");
                return SafeTensors.parse(in.readAllBytes(), "golden/" + file).tensors();
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read golden file " + file + " from " + (dir.isBlank() ? "test resources" : dir), e);
        }
    }

    /** Group names ("conv_a", "pool_b", ...) of ops.safetensors: everything before the first dot. */
    public static TreeSet<String> groups(Map<String, Tensor> tensors) {
        TreeSet<String> g = new TreeSet<>();
        for (String k : tensors.keySet()) g.add(k.substring(0, k.indexOf('.')));
        return g;
    }

    /** |actual - expected| <= atol + rtol*|expected| everywhere, with a message naming the worst element. */
    public static void assertClose(String what, Tensor expected, Tensor actual, double atol, double rtol) {
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        double[] ev = expected.contiguousDoubles(), av = actual.contiguousDoubles();
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < ev.length; i++) {
            double e = ev[i], a = av[i];
            double excess = Math.abs(a - e) - (atol + rtol * Math.abs(e));
            if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Double.isNaN(a))) {
                worst = i;
                worstExcess = excess;
            }
        }
        if (worst >= 0) {
            fail(what + ": element " + worst + " is " + av[worst] + ", expected " + ev[worst]
                    + " (tolerance " + atol + " + " + rtol + "*|expected|)");
        }
    }

    public static void assertClose(String what, Tensor expected, Tensor actual) {
        assertClose(what, expected, actual, ATOL, RTOL);
    }
}
