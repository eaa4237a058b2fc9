package dev.phalanx.kernels.cpu;

import java.util.Optional;

/**
 * Which pure-Java GEMM the fallback runs: {@link VectorGemm} where the JVM resolved the
 * incubating Vector API module ({@code java --add-modules jdk.incubator.vector ...}), else the
 * scalar {@link JavaGemm}. A jar's manifest cannot add a module, so this is decided at run time;
 * VectorGemm is loaded only when the module is there (its class refers to the module's types).
 */
public final class JavaKernels {

    /** The module that holds the Vector API in JDK 17 to 22. */
    public static final String VECTOR_MODULE = "jdk.incubator.vector";

    private static final class Holder { // decided once, on first use; immutable afterwards
        static final Optional<Gemm> VECTOR = loadVectorGemm();
    }

    private JavaKernels() { }

    /** The pure-Java GEMM to use: on the Vector API when it is there. */
    public static Gemm gemm() {
        return Holder.VECTOR.orElseGet(JavaGemm::new);
    }

    /** Whether this JVM runs the pure-Java kernels on the Vector API. */
    public static boolean vectorApi() {
        return Holder.VECTOR.isPresent();
    }

    private static Optional<Gemm> loadVectorGemm() {
        if (ModuleLayer.boot().findModule(VECTOR_MODULE).isEmpty()) return Optional.empty();
        try {
            return Optional.of((Gemm) Class.forName(JavaKernels.class.getPackageName() + ".VectorGemm").getDeclaredConstructor().newInstance());
        } catch (ReflectiveOperationException | LinkageError e) {
            return Optional.empty(); // a JVM whose module does not work as expected: the scalar kernels still do
        }
    }
}
