package dev.phalanx.kernels.cpu;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Optional;

import org.bytedeco.javacpp.Loader;
import org.bytedeco.openblas.global.openblas;

/**
 * GEMM through OpenBLAS's {@code cblas_sgemm}, bound with JavaCPP. Operands are copied into
 * direct buffers owned by the calling thread (heap arrays handed to JNI are copied whole, which
 * would cost far more for a slice of a large batch array). OpenBLAS runs single-threaded: the
 * CPU backend parallelises above it, over images and rows, so results do not depend on the
 * thread count.
 */
public final class OpenBlasGemm implements Gemm {

    private final String version;
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);

    private OpenBlasGemm(String version) {
        this.version = version;
    }

    /** The native GEMM, or the reason it could not be loaded. */
    public static Result load() {
        try {
            Loader.load(openblas.class);
            org.bytedeco.openblas.presets.openblas_nolapack.blas_set_num_threads(1);
            return new Result(Optional.of(new OpenBlasGemm(openblas.OPENBLAS_VERSION)), "");
        } catch (Throwable e) { // UnsatisfiedLinkError, NoClassDefFoundError, ExceptionInInitializerError
            return new Result(Optional.empty(), e.getClass().getSimpleName() + ": " + e.getMessage());
        }
    }

    public record Result(Optional<Gemm> gemm, String whyNot) { }

    @Override
    public String name() {
        return "OpenBLAS (" + version.trim() + ", JavaCPP)";
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int m, int n, int k,
                      float[] a, int aOff, float[] b, int bOff,
                      float[] c, int cOff, boolean accumulate) {
        if (m == 0 || n == 0) return;
        if (k == 0) {
            if (!accumulate) java.util.Arrays.fill(c, cOff, cOff + m * n, 0f);
            return;
        }
        Scratch s = scratch.get();
        FloatBuffer da = s.a(m * k), db = s.b(k * n), dc = s.c(m * n);
        da.put(0, a, aOff, m * k);
        db.put(0, b, bOff, k * n);
        if (accumulate) dc.put(0, c, cOff, m * n);
        openblas.cblas_sgemm(openblas.CblasRowMajor,
                transA ? openblas.CblasTrans : openblas.CblasNoTrans,
                transB ? openblas.CblasTrans : openblas.CblasNoTrans,
                m, n, k, 1f, da, transA ? m : k, db, transB ? k : n,
                accumulate ? 1f : 0f, dc, n);
        dc.get(0, c, cOff, m * n);
    }

    /**
     * Calls {@code [fromChunk, toChunk)} of {@code sl} (the reproducible mode's fixed slots, see
     * {@code SampleOrderedKernels.linearForward}): for each, C = A op(B) with exactly
     * {@code sl.slots()} rows, the shard's rows of {@code a} ([rows, k] row-major) in their slots
     * and zeros in the others, and the shard's rows of the result written to {@code c} ([rows, n]).
     * B ([k, n], or [n, k] stored when {@code transB}) is copied in once for all of them. On the
     * calling thread.
     */
    void slotRows(boolean transB, int n, int k, float[] a, float[] b, float[] c, DnnlConv.Slots sl, int fromChunk, int toChunk) {
        if (fromChunk >= toChunk) return;
        int m = sl.slots();
        Scratch s = scratch.get();
        FloatBuffer da = s.a(m * k), db = s.b(k * n), dc = s.c(m * n);
        db.put(0, b, 0, k * n);
        for (int ch = fromChunk; ch < toChunk; ch++) {
            int from = sl.from(ch), slot = sl.firstSlot(ch), count = sl.count(ch);
            if (count < m) for (int i = 0; i < m * k; i++) da.put(i, 0f); // a partial call: its other slots hold zeros
            da.put(slot * k, a, from * k, count * k);
            openblas.cblas_sgemm(openblas.CblasRowMajor, openblas.CblasNoTrans, transB ? openblas.CblasTrans : openblas.CblasNoTrans,
                    m, n, k, 1f, da, k, db, transB ? k : n, 0f, dc, n);
            dc.get(slot * n, c, from * n, count * n);
        }
    }

    /** Per-thread direct buffers, grown on demand and reused across calls. */
    private static final class Scratch {
        private FloatBuffer a = alloc(0), b = alloc(0), c = alloc(0);

        FloatBuffer a(int n) { return a = fit(a, n); }
        FloatBuffer b(int n) { return b = fit(b, n); }
        FloatBuffer c(int n) { return c = fit(c, n); }

        private static FloatBuffer fit(FloatBuffer buf, int n) {
            return buf.capacity() >= n ? buf : alloc(Math.max(n, buf.capacity() * 2));
        }

        private static FloatBuffer alloc(int n) {
            return ByteBuffer.allocateDirect(Math.max(n, 1024) * Float.BYTES).order(ByteOrder.nativeOrder()).asFloatBuffer();
        }
    }
}
