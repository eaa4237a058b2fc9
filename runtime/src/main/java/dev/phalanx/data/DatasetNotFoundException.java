package dev.phalanx.data;

import java.nio.file.Path;
import java.util.List;

/** A data set that is in none of the folders searched: says where it looked and how to get it. */
public final class DatasetNotFoundException extends Exception {

    private final transient List<Path> searched;

    public DatasetNotFoundException(DataSets.Info info, List<Path> searched) {
        super(info.title() + " not found. Looked for " + String.join(", ", info.trainFiles()) + " and " + String.join(", ", info.testFiles())
                + " in: " + String.join(", ", searched.stream().map(Path::toString).toList()) + ". To get it: " + info.howToGet() + ".");
        this.searched = List.copyOf(searched);
    }

    public List<Path> searched() {
        return searched;
    }
}
