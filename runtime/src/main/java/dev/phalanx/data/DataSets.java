package dev.phalanx.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;

/**
 * The data sets Phalanx knows by name: their files, class names, official download addresses
 * with SHA-256 checksums, and where to look for them on disk: the folder a recipe names, then
 * {@code ./data}, then {@code /usr/share/datasets/<name>} (system property {@value #SYSTEM_ROOT_PROPERTY}; where Debian's
 * {@code dataset-fashion-mnist} puts Fashion-MNIST).
 */
public final class DataSets {

    /** One file to download: its name on disk, address, SHA-256 and size in bytes. */
    public record Resource(String file, String url, String sha256, long size) { }

    /** A data set's files and provenance. {@code archive}: the downloads are a tar.gz to unpack into {@code subdir}. */
    public record Info(String name, String title, List<String> classes, List<String> trainFiles, List<String> testFiles,
                       List<Resource> downloads, boolean archive, String subdir, String howToGet) {

        /** The same data set fetched from another server that serves the same file names (a mirror, or a test server). */
        public Info withMirror(String baseUrl) {
            String base = baseUrl.endsWith("/") ? baseUrl : baseUrl + "/";
            List<Resource> moved = new ArrayList<>();
            for (Resource r : downloads) moved.add(new Resource(r.file(), base + r.file(), r.sha256(), r.size()));
            return new Info(name, title, classes, trainFiles, testFiles, moved, archive, subdir, howToGet);
        }

        public Info withDownloads(List<Resource> downloads) {
            return new Info(name, title, classes, trainFiles, testFiles, List.copyOf(downloads), archive, subdir, howToGet);
        }
    }

    private static final List<String> IDX_TRAIN = List.of("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
    private static final List<String> IDX_TEST = List.of("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");

    public static final Info FASHION_MNIST = new Info("fashion-mnist", "Fashion-MNIST",
            List.of("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            IDX_TRAIN, IDX_TEST,
            List.of(
                    new Resource("train-images-idx3-ubyte.gz", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
                            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
                    new Resource("train-labels-idx1-ubyte.gz", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
                            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
                    new Resource("t10k-images-idx3-ubyte.gz", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
                            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
                    new Resource("t10k-labels-idx1-ubyte.gz", "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
                            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148)),
            false, "",
            "install Debian's package (apt-get install dataset-fashion-mnist), or run with --download to fetch it into ./data/fashion-mnist");

    public static final Info MNIST = new Info("mnist", "MNIST",
            List.of("0", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
            IDX_TRAIN, IDX_TEST,
            List.of(
                    new Resource("train-images-idx3-ubyte.gz", "https://storage.googleapis.com/cvdf-datasets/mnist/train-images-idx3-ubyte.gz",
                            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
                    new Resource("train-labels-idx1-ubyte.gz", "https://storage.googleapis.com/cvdf-datasets/mnist/train-labels-idx1-ubyte.gz",
                            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
                    new Resource("t10k-images-idx3-ubyte.gz", "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-images-idx3-ubyte.gz",
                            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
                    new Resource("t10k-labels-idx1-ubyte.gz", "https://storage.googleapis.com/cvdf-datasets/mnist/t10k-labels-idx1-ubyte.gz",
                            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542)),
            false, "",
            "run with --download to fetch it into ./data/mnist");

    public static final Info CIFAR10 = new Info("cifar10", "CIFAR-10", Cifar10.CLASSES, Cifar10.TRAIN_FILES, Cifar10.TEST_FILES,
            List.of(new Resource("cifar-10-binary.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                    "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171)),
            true, "cifar-10-batches-bin",
            "run with --download to fetch the binary version (170 MB) into ./data/cifar10");

    /** The embedded sample of Fashion-MNIST (3000 training, 1000 test images), by name: for demos and tests. */
    public static final Info FASHION_MNIST_SAMPLE = new Info("fashion-mnist-sample", "Fashion-MNIST (embedded sample)",
            FASHION_MNIST.classes(), IDX_TRAIN, IDX_TEST, List.of(), false, "", "it is inside the Phalanx jar");

    public static final List<Info> ALL = List.of(FASHION_MNIST, MNIST, CIFAR10, FASHION_MNIST_SAMPLE);

    /** The embedded sample of Fashion-MNIST (classpath), used when the full set is not installed. */
    public static final String SAMPLE_RESOURCE = "/datasets/fashion-mnist-sample/";

    /** Where system-wide data sets live (Debian's packages): {@code /usr/share/datasets} unless this property says otherwise. */
    public static final String SYSTEM_ROOT_PROPERTY = "phalanx.datasets.root";

    private DataSets() { }

    public static Info info(String name) {
        String n = name.toLowerCase(Locale.ROOT).replace("_", "-");
        if (n.equals("cifar-10")) n = "cifar10";
        for (Info i : ALL) if (i.name().equals(n)) return i;
        throw new IllegalArgumentException("unknown data set '" + name + "'; known: fashion-mnist, mnist, cifar10, fashion-mnist-sample");
    }

    /** The folders searched, in order: the recipe's, ./data/NAME, ./data, /usr/share/datasets/NAME. */
    public static List<Path> searchPath(Info info, Path configured) {
        LinkedHashSet<Path> dirs = new LinkedHashSet<>();
        if (configured != null) dirs.add(configured);
        dirs.add(Path.of("data", info.name()));
        dirs.add(Path.of("data"));
        dirs.add(Path.of(System.getProperty(SYSTEM_ROOT_PROPERTY, "/usr/share/datasets"), info.name()));
        List<Path> out = new ArrayList<>();
        for (Path d : dirs) {
            out.add(d);
            if (!info.subdir().isEmpty()) out.add(d.resolve(info.subdir()));
        }
        return out;
    }

    /**
     * The folder that holds every train and test file. A folder the user named ({@code configured})
     * is the only one looked in: if it lacks a file, the error names that file, instead of another
     * copy of the data set being used without a word. Otherwise the first complete folder of
     * {@link #searchPath}.
     */
    public static Path locate(Info info, Path configured) throws DatasetNotFoundException {
        if (configured != null) {
            List<Path> named = new ArrayList<>(List.of(configured));
            if (!info.subdir().isEmpty()) named.add(configured.resolve(info.subdir()));
            for (Path d : named) if (complete(info, d)) return d;
            Path dir = named.get(named.size() > 1 && Files.isDirectory(named.get(1)) ? 1 : 0);
            List<String> missing = new ArrayList<>();
            for (String f : info.trainFiles()) if (!Files.isRegularFile(dir.resolve(f))) missing.add(f);
            for (String f : info.testFiles()) if (!Files.isRegularFile(dir.resolve(f))) missing.add(f);
            if (missing.size() < info.trainFiles().size() + info.testFiles().size()) {
                throw new DatasetNotFoundException(info.title() + ": " + dir + " (data.path) lacks " + String.join(", ", missing)
                        + ". Put the missing file" + (missing.size() > 1 ? "s" : "") + " there, or run with --download", named, true);
            }
            throw new DatasetNotFoundException(info.title() + " not found. Looked for " + String.join(", ", info.trainFiles()) + " and "
                    + String.join(", ", info.testFiles()) + " in: " + String.join(", ", named.stream().map(Path::toString).toList())
                    + " (data.path" + (Files.isDirectory(configured) ? "" : ", which does not exist") + "; without it Phalanx would look in "
                    + String.join(", ", searchPath(info, null).stream().map(Path::toString).toList()) + "). To get it: " + info.howToGet() + ".",
                    named, true);
        }
        List<Path> searched = searchPath(info, null);
        for (Path d : searched) if (complete(info, d)) return d;
        throw new DatasetNotFoundException(info, searched);
    }

    static boolean complete(Info info, Path dir) {
        for (String f : info.trainFiles()) if (!Files.isRegularFile(dir.resolve(f))) return false;
        for (String f : info.testFiles()) if (!Files.isRegularFile(dir.resolve(f))) return false;
        return true;
    }

    /** Reads the train or test split from {@code dir}, checking every file before returning. */
    public static ImageDataset load(Info info, Path dir, boolean train, Transform transform) throws IOException {
        List<String> files = train ? info.trainFiles() : info.testFiles();
        if (info.name().equals(CIFAR10.name())) { // by name: a mirrored copy is another Info
            List<Path> paths = new ArrayList<>();
            for (String f : files) paths.add(dir.resolve(f));
            return Cifar10.read(paths, transform);
        }
        Idx.Array images = Idx.read(dir.resolve(files.get(0)));
        Idx.Array labels = Idx.read(dir.resolve(files.get(1)));
        return fromIdx(info, images, labels, dir.resolve(files.get(0)).toString(), dir.resolve(files.get(1)).toString(), transform);
    }

    /** The embedded Fashion-MNIST sample. */
    public static ImageDataset loadSample(boolean train, Transform transform) throws IOException {
        List<String> files = train ? IDX_TRAIN : IDX_TEST;
        Idx.Array images, labels;
        try (InputStream i = resource(files.get(0)); InputStream l = resource(files.get(1))) {
            images = Idx.read(i, "sample:" + files.get(0));
            labels = Idx.read(l, "sample:" + files.get(1));
        }
        return fromIdx(FASHION_MNIST, images, labels, "sample:" + files.get(0), "sample:" + files.get(1), transform);
    }

    private static InputStream resource(String file) throws IOException {
        InputStream in = DataSets.class.getResourceAsStream(SAMPLE_RESOURCE + file);
        if (in == null) throw new IOException("the embedded Fashion-MNIST sample is missing " + file + " (a broken build?)");
        return in;
    }

    private static ImageDataset fromIdx(Info info, Idx.Array images, Idx.Array labels, String source, String labelSource,
                                        Transform transform) throws IOException {
        if (images.dims().length != 3) {
            throw new IOException(source + ": expected 3 dimensions (count, rows, columns) for images, got " + images.dims().length);
        }
        if (labels.dims().length != 1 || labels.dims()[0] != images.dims()[0]) {
            throw new IOException(labelSource + ": " + java.util.Arrays.toString(labels.dims()) + " labels for the " + images.dims()[0]
                    + " images of " + source);
        }
        for (int i = 0; i < labels.data().length; i++) {
            int l = labels.data()[i] & 0xff;
            if (l >= info.classes().size()) {
                throw new IOException(labelSource + ": bad label " + l + " at " + i + " (" + info.classes().size() + " classes, labels 0.."
                        + (info.classes().size() - 1) + ")");
            }
        }
        return new ImageDataset(images.data(), labels.data(), 1, images.dims()[1], images.dims()[2], info.classes(), transform);
    }
}
