package dev.phalanx.service;

import java.util.Map;

import dev.phalanx.train.Recipe;

/** A run's recipe: its HOCON text with the overrides applied, checked as the CLI checks a file. */
final class Recipes {

    /** How the recipe is named in error messages ("recipe: unknown key 'x' (line 2); ..."). */
    static final String SOURCE = "recipe";

    private Recipes() { }

    static Recipe parse(String hocon, Map<String, Object> overrides) {
        Recipe r = Recipe.parse(hocon == null ? "" : hocon, SOURCE);
        return overrides == null || overrides.isEmpty() ? r : r.with(overrides);
    }

    static Recipe of(RunRecord r) {
        return parse(r.recipe(), r.overrides());
    }
}
