package dev.phalanx.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RecipeTest {

    @TempDir
    Path dir;

    private Path write(String text) throws IOException {
        Path f = dir.resolve("r.conf");
        Files.writeString(f, text);
        return f;
    }

    @Test
    void theShippedRecipesLoad() {
        Recipe f = Recipe.load(Path.of("../conf/fashion-lenet.conf"));
        assertEquals("fashion-lenet", f.model());
        assertEquals(4, f.batchSize());
        assertEquals(0.001f, f.lr());
        assertEquals(0.9f, f.momentum());
        assertEquals(2, f.epochs());
        Recipe c = Recipe.load(Path.of("../conf/cifar10-lenet.conf"));
        assertEquals("cifar10", c.dataSet());
        assertEquals(3, c.mean().length);
    }

    @Test
    void anUnknownKeyNamesTheKeyTheFileAndTheLine() throws IOException {
        Path f = write("model = fashion-lenet\ntrain {\n  epochs = 2\n  batchsize = 64\n}\n");
        Recipe.RecipeException e = assertThrows(Recipe.RecipeException.class, () -> Recipe.load(f));
        assertTrue(e.getMessage().startsWith(f + ": unknown key 'train.batchsize' (line 4); known keys: "), e.getMessage());
        assertTrue(e.getMessage().contains("train.batch-size"), e.getMessage());
    }

    @Test
    void threadsDefaultToTheMachinesCoresDividedBetweenTheReplicas() throws IOException {
        int cores = Runtime.getRuntime().availableProcessors();
        assertEquals(cores, Recipe.defaults().threads());
        assertEquals(Math.max(1, cores / 2), Recipe.load(write("runtime.replicas = 2\n")).threads());
        assertEquals(Math.max(1, cores / 2), Recipe.load(write("runtime { replicas = 2, threads = auto }\n")).threads());
        assertEquals(3, Recipe.load(write("runtime.threads = 3\n")).threads());
        Path f = write("runtime.threads = many\n");
        assertEquals(f + ": runtime.threads must be a number or auto, got 'many' (line 1)",
                assertThrows(Recipe.RecipeException.class, () -> Recipe.load(f)).getMessage());
    }

    @Test
    void anIllTypedValueNamesTheKeyAndTheFile() throws IOException {
        Path f = write("train.epochs = two\n");
        Recipe.RecipeException e = assertThrows(Recipe.RecipeException.class, () -> Recipe.load(f));
        assertEquals(f + ": key 'train.epochs' (line 1) must be a number, not a string", e.getMessage());
    }

    @Test
    void badValuesAreRefusedWithTheKey() throws IOException {
        assertEquals(write("x").toString() + ": train.batch-size must be >= 1, got 0",
                assertThrows(Recipe.RecipeException.class, () -> Recipe.load(write("train.batch-size = 0"))).getMessage());
        assertTrue(assertThrows(Recipe.RecipeException.class, () -> Recipe.load(write("optimizer.name = lbfgs"))).getMessage()
                .contains("optimizer.name must be sgd, adam, adamw or rmsprop, got 'lbfgs'"));
        assertTrue(assertThrows(Recipe.RecipeException.class, () -> Recipe.load(write("model = resnet50"))).getMessage()
                .contains("unknown model 'resnet50'"));
        assertTrue(assertThrows(Recipe.RecipeException.class, () -> Recipe.load(write("data { mean = [0.5, 0.5] }"))).getMessage()
                .contains("data.mean and data.std need the same number of values"));
        assertTrue(assertThrows(Recipe.RecipeException.class, () -> Recipe.load(write("train { epochs = 2"))).getMessage()
                .startsWith(dir.resolve("r.conf").toString()));
        assertTrue(assertThrows(Recipe.RecipeException.class, () -> Recipe.load(dir.resolve("nope.conf"))).getMessage()
                .contains("nope.conf not found"));
    }

    @Test
    void commandLineOverridesAreCheckedToo() throws IOException {
        Recipe r = Recipe.load(write("train.epochs = 3")).with(Map.of("train.batch-size", 64, "optimizer.lr", 0.01));
        assertEquals(3, r.epochs());
        assertEquals(64, r.batchSize());
        assertEquals(0.01f, r.lr());
        assertThrows(Recipe.RecipeException.class, () -> r.with(Map.of("train.epochs", -1)));
        assertTrue(r.render().contains("batch-size=64") || r.render().contains("batch-size = 64"), r.render());
    }
}
