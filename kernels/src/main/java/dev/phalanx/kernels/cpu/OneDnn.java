package dev.phalanx.kernels.cpu;

import java.util.Optional;

import org.bytedeco.dnnl.dnnl_version_t;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.openblas.presets.openblas_nolapack;

/**
 * oneDNN (the JavaCPP preset {@code org.bytedeco:dnnl}) once loaded: its CPU engine, its version
 * and the instruction set its JIT chose for this machine. Nothing here changes after loading;
 * streams, primitives and buffers belong to each backend ({@link DnnlConv}).
 *
 * <p>Threads: this oneDNN build runs its primitives on OpenMP, whose thread count is a
 * per-thread setting of the thread that calls it. Phalanx keeps every oneDNN call on one thread
 * and splits the batch itself, in pieces whose boundaries do not depend on the thread count, so
 * results do not either. {@link #oneThreadHere()} sets that for the calling thread through
 * {@code omp_set_num_threads}, called the way the JavaCPP presets call {@code *_set_num_threads}
 * themselves: the symbol's address through {@link Loader#addressof} and a {@code void(int)}
 * function pointer class that the OpenBLAS preset already ships.
 */
final class OneDnn {

    /** The loaded library, or why it is not used. */
    record Result(Optional<OneDnn> dnnl, String whyNot) { }

    private final engine engine;
    private final String version;
    private final String isa;
    /** Whether oneDNN's JIT uses AVX-512 here (the effective ISA includes avx512_core). */
    private final boolean avx512;
    private final SetNumThreads setNumThreads;

    /**
     * A {@code void(int)} native function pointer. The preset's class allocates its holder only
     * through its protected constructor, hence this subclass (as the preset itself does it).
     */
    private static final class SetNumThreads extends openblas_nolapack.SetNumThreads {
        SetNumThreads(Pointer function) {
            super();
            put(function);
        }
    }

    private OneDnn(engine engine, String version, int isa, SetNumThreads setNumThreads) {
        this.engine = engine;
        this.version = version;
        this.isa = isaName(isa);
        this.avx512 = (isa & dnnl.dnnl_cpu_isa_avx512_core) == dnnl.dnnl_cpu_isa_avx512_core;
        this.setNumThreads = setNumThreads;
    }

    static Result load() {
        try {
            Loader.load(dnnl.class);
            Pointer omp = Loader.addressof("omp_set_num_threads");
            if (omp == null || omp.isNull()) {
                return new Result(Optional.empty(), "oneDNN loaded, but its OpenMP runtime's omp_set_num_threads was not found");
            }
            Loader.load(openblas_nolapack.class);
            SetNumThreads set = new SetNumThreads(omp);
            set.call(1);
            engine e = new engine(org.bytedeco.dnnl.engine.kind.cpu, 0);
            dnnl_version_t v = dnnl.dnnl_version();
            String version = v.major() + "." + v.minor() + "." + v.patch();
            return new Result(Optional.of(new OneDnn(e, version, dnnl.dnnl_get_effective_cpu_isa(), set)), "");
        } catch (Throwable e) { // UnsatisfiedLinkError, NoClassDefFoundError, ExceptionInInitializerError, oneDNN's own errors
            return new Result(Optional.empty(), e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    engine engine() {
        return engine;
    }

    /** Whether the JIT runs AVX-512 code here (not on AVX2-only machines, nor under {@code ONEDNN_MAX_CPU_ISA=AVX2}). */
    boolean avx512() {
        return avx512;
    }

    /** For start-up lines: {@code oneDNN 3.11.0 (avx512_core_bf16)}. */
    String describe() {
        return "oneDNN " + version + " (" + isa + ")";
    }

    /** Makes oneDNN calls from this thread run on this thread alone (OpenMP's setting is per thread). */
    void oneThreadHere() {
        setNumThreads.call(1);
    }

    /** oneDNN's name for an effective ISA value (the constants are nested bit masks). */
    static String isaName(int isa) {
        if (isa == dnnl.dnnl_cpu_isa_avx10_2_512_amx_2) return "avx10_2_512_amx_2";
        if (isa == dnnl.dnnl_cpu_isa_avx10_2_512) return "avx10_2_512";
        if (isa == dnnl.dnnl_cpu_isa_avx512_core_amx_fp16) return "avx512_core_amx_fp16";
        if (isa == dnnl.dnnl_cpu_isa_avx512_core_amx) return "avx512_core_amx";
        if (isa == dnnl.dnnl_cpu_isa_avx512_core_fp16) return "avx512_core_fp16";
        if (isa == dnnl.dnnl_cpu_isa_avx512_core_bf16) return "avx512_core_bf16";
        if (isa == dnnl.dnnl_cpu_isa_avx512_core_vnni) return "avx512_core_vnni";
        if (isa == dnnl.dnnl_cpu_isa_avx512_core) return "avx512_core";
        if (isa == dnnl.dnnl_cpu_isa_avx2_vnni_2) return "avx2_vnni_2";
        if (isa == dnnl.dnnl_cpu_isa_avx2_vnni) return "avx2_vnni";
        if (isa == dnnl.dnnl_cpu_isa_avx2) return "avx2";
        if (isa == dnnl.dnnl_cpu_isa_avx) return "avx";
        if (isa == dnnl.dnnl_cpu_isa_sse41) return "sse41";
        return "isa " + isa;
    }
}
