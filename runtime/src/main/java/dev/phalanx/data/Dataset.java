package dev.phalanx.data;

import java.util.List;

/** Examples by index, like {@code torch.utils.data.Dataset}. */
public interface Dataset {

    int size();

    Example get(int index);

    /** Class names by label, when the data set has them (for per-class accuracy). */
    default List<String> classes() {
        return List.of();
    }
}
