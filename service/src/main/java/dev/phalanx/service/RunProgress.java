package dev.phalanx.service;

import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.phalanx.data.ImageDataset;
import dev.phalanx.io.AtomicFiles;
import dev.phalanx.train.Evaluation;
import dev.phalanx.train.Metrics;
import dev.phalanx.train.Recipe;
import dev.phalanx.train.SampleGrid;
import dev.phalanx.train.Trainer;

/**
 * What a run's training thread tells the service: each metrics row becomes the run's latest
 * numbers and an event; each epoch's evaluation is also written as {@code evaluation.json} and
 * {@code samples.png} (the labelled image grid) into the run folder.
 */
final class RunProgress implements Metrics.Listener {

    static final String EVALUATION = "evaluation.json", SAMPLES = "samples.png";

    private final RunEntry run;
    private final Recipe recipe;
    private ImageDataset test; // loaded at the first epoch's end, for the image grid

    RunProgress(RunEntry run, Recipe recipe) {
        this.run = run;
        this.recipe = recipe;
    }

    @Override
    public void started(long step) {
        run.events().truncateAfter(step);
        if (step > 0) run.events().append("resumed", step, Map.of("step", step));
        run.update(r -> r.withProgress(step, r.epoch(), null, null, null));
    }

    @Override
    public void step(Metrics.Row row) {
        run.update(r -> r.withProgress(row.step(), row.epoch(), row.loss(), null, row.imagesPerSecond()));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", row.step());
        m.put("epoch", row.epoch());
        m.put("loss", row.loss());
        m.put("imagesPerSecond", row.imagesPerSecond());
        run.events().append("metrics", row.step(), m);
    }

    @Override
    public void epoch(Metrics.Row row, Evaluation ev) {
        run.update(r -> r.withProgress(row.step(), row.epoch(), null, row.accuracy(), null));
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("step", row.step());
        m.put("epoch", row.epoch());
        m.put("accuracy", row.accuracy());
        if (ev != null) {
            m.putAll(details(ev));
            try {
                AtomicFiles.writeBytes(run.dir().resolve(EVALUATION), RunStore.JSON.writeValueAsBytes(m));
                SampleGrid.write(run.dir(), test(), ev.samplePredictions(), recipe.mean(), recipe.std());
            } catch (IOException | RuntimeException e) {
                m.put("samplesError", RunManager.oneLine(e)); // the run goes on; the dashboard says why the grid is missing
            }
        }
        run.events().append("epoch", row.step(), m);
    }

    private ImageDataset test() throws IOException {
        if (test == null) test = Trainer.data(recipe, false, new PrintStream(PrintStream.nullOutputStream()));
        return test;
    }

    /** Per-class accuracy, the confusion matrix, and the first test images' labels and predictions. */
    private Map<String, Object> details(Evaluation ev) {
        Map<String, Object> m = new LinkedHashMap<>();
        List<Double> perClass = new ArrayList<>();
        for (int c = 0; c < ev.classes().size(); c++) perClass.add(ev.classAccuracy(c));
        m.put("classes", ev.classes());
        m.put("perClass", perClass);
        m.put("confusion", ev.confusion());
        List<Map<String, Object>> samples = new ArrayList<>();
        try {
            ImageDataset t = test();
            for (int i = 0; i < ev.samplePredictions().length && i < t.size(); i++) {
                samples.add(Map.of("label", t.label(i), "predicted", ev.samplePredictions()[i]));
            }
        } catch (IOException | RuntimeException e) {
            // no labels: the grid's captions are left out
        }
        m.put("samples", samples);
        return m;
    }
}
