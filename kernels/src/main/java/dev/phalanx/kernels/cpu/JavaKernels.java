package dev.phalanx.kernels.cpu;

import java.util.Optional;

/**
 * Which pure-Java GEMM the fallback runs: {@link VectorGemm} where the JVM resolved the
 * incubating Vector API module ({@code java --add-modules jdk.incubator.vector ...}), else the
 * scalar {@link JavaGemm}; likewise the convolutions' im2col runs ({@link VectorRuns} or
 * {@link Runs#SCALAR}). A jar's manifest cannot add a module, so this is decided at run time;
 * the Vector API classes are loaded only when the module is there (they refer to its types).
 */
public final class JavaKernels {

    /** The module that holds the Vector API in JDK 17 to 22. */
    public static final String VECTOR_MODULE = "jdk.incubator.vector";

    private static final class Holder { // decided once, on first use; immutable afterwards
        static final Optional<Gemm> VECTOR = load("VectorGemm", Gemm.class);
        static final Optional<Runs> VECTOR_RUNS = VECTOR.isPresent() ? load("VectorRuns", Runs.class) : Optional.empty();
    }

    private JavaKernels() { }

    /** The pure-Java GEMM to use: on the Vector API when it is there. */
    public static Gemm gemm() {
        return Holder.VECTOR.orElseGet(JavaGemm::new);
    }

    /** How the pure-Java convolutions move their im2col runs: on the Vector API when it is there. */
    static Runs runs() {
        return Holder.VECTOR_RUNS.orElse(Runs.SCALAR);
    }

    /** Whether this JVM runs the pure-Java kernels on the Vector API. */
    public static boolean vectorApi() {
        return Holder.VECTOR.isPresent();
    }

    private static <T> Optional<T> load(String simpleName, Class<T> type) {
        if (ModuleLayer.boot().findModule(VECTOR_MODULE).isEmpty()) return Optional.empty();
        try {
            return Optional.of(type.cast(Class.forName(JavaKernels.class.getPackageName() + "." + simpleName).getDeclaredConstructor().newInstance()));
        } catch (ReflectiveOperationException | LinkageError e) {
            return Optional.empty(); // a JVM whose module does not work as expected: the scalar kernels still do
        }
    }
}
