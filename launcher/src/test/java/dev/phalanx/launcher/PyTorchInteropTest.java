package dev.phalanx.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.phalanx.data.DataSets;

/**
 * A Phalanx checkpoint loads into PyTorch ({@code load_state_dict(strict=True)}) and gives the
 * test accuracy Phalanx measured. Runs where {@code /usr/bin/python3} has torch (Debian's
 * python3-torch); skipped, with that reason, elsewhere.
 */
class PyTorchInteropTest {

    private static final Path PYTHON = Path.of("/usr/bin/python3");

    @TempDir
    Path tmp;

    private static boolean torchAvailable() {
        if (!Files.isExecutable(PYTHON)) return false;
        try {
            Process p = new ProcessBuilder(PYTHON.toString(), "-c", "import torch, numpy").redirectErrorStream(true).start();
            return p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0;
        } catch (IOException | InterruptedException e) {
            return false;
        }
    }

    @Test
    void aPhalanxCheckpointGivesTheSameAccuracyInPyTorch() throws Exception {
        assumeTrue(torchAvailable(), "/usr/bin/python3 with torch is not installed here (apt-get install python3-torch)");
        Path conf = tmp.resolve("r.conf");
        Files.writeString(conf, "data.set = fashion-mnist-sample\ntrain { batch-size = 16, log-every = 100 }\noptimizer.lr = 0.01\n");
        Path run = tmp.resolve("run");
        assertEquals(0, Cli.run("train", conf.toString(), "--max-steps", "200", "--out", run.toString()).code());
        Cli.Result eval = Cli.run("eval", run.toString());
        Matcher m = Pattern.compile("Accuracy of the network on the 1000 test images: (\\d+) %").matcher(eval.out());
        assertTrue(m.find(), eval.out());
        // exact counts: from the confusion matrix's diagonal is more than the line shows, so count again here
        int javaCorrect = correctFromConfusion(eval.out());

        Path images = copy(DataSets.SAMPLE_RESOURCE + "t10k-images-idx3-ubyte.gz"), labels = copy(DataSets.SAMPLE_RESOURCE + "t10k-labels-idx1-ubyte.gz");
        Path script = copy("/pytorch_eval.py");
        Process p = new ProcessBuilder(PYTHON.toString(), script.toString(), run.resolve("model.safetensors").toString(), images.toString(),
                labels.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(300, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        Matcher pm = Pattern.compile("correct (\\d+) of 1000").matcher(out);
        assertTrue(pm.find(), out);
        int torchCorrect = Integer.parseInt(pm.group(1));
        // float32 summation order differs between the two; a prediction on a knife's edge may flip
        assertTrue(Math.abs(torchCorrect - javaCorrect) <= 2, "PyTorch " + torchCorrect + " correct, Phalanx " + javaCorrect);
    }

    private static int correctFromConfusion(String report) {
        int correct = 0, row = 0;
        boolean in = false;
        for (String line : report.split("\n")) {
            if (line.startsWith("Confusion matrix")) {
                in = true;
                continue;
            }
            if (!in || !line.contains("(")) continue;
            if (row == 10) break; // the matrix has one row per class; eval's lines after it are not counts
            String[] cells = line.substring(0, line.lastIndexOf("(")).trim().split("\\s+");
            // the row is: class name (may contain spaces), then 10 counts
            correct += Integer.parseInt(cells[cells.length - 10 + row]);
            row++;
        }
        return correct;
    }

    private Path copy(String resource) throws IOException {
        Path out = tmp.resolve(Path.of(resource).getFileName().toString());
        try (InputStream in = PyTorchInteropTest.class.getResourceAsStream(resource)) {
            if (in == null) throw new IOException("missing resource " + resource);
            Files.copy(in, out);
        }
        return out;
    }
}
