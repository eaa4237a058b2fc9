package dev.phalanx.data;

import java.nio.file.Path;
import java.util.List;

/** A data set that is in none of the folders searched: says where it looked and how to get it. */
public final class DatasetNotFoundException extends Exception {

    private final transient List<Path> searched;
    private final boolean named;

    public DatasetNotFoundException(DataSets.Info info, List<Path> searched) {
        super(info.title() + " not found. Looked for " + String.join(", ", info.trainFiles()) + " and " + String.join(", ", info.testFiles())
                + " in: " + String.join(", ", searched.stream().map(Path::toString).toList()) + ". To get it: " + info.howToGet() + ".");
        this.searched = List.copyOf(searched);
        this.named = false;
    }

    /** The folder the user named ({@code data.path}) lacks the data set or a file of it: the message says which. */
    public DatasetNotFoundException(String message, List<Path> searched, boolean named) {
        super(message);
        this.searched = List.copyOf(searched);
        this.named = named;
    }

    /** Whether the user named the folder: then no other copy (nor the embedded sample) may stand in for it. */
    public boolean named() {
        return named;
    }

    public List<Path> searched() {
        return searched;
    }
}
