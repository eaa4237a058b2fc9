package dev.phalanx.kernels.cpu;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.pooling_backward;
import org.bytedeco.dnnl.pooling_forward;
import org.bytedeco.dnnl.primitive_attr;
import org.bytedeco.dnnl.stream;
import org.bytedeco.dnnl.global.dnnl;

/**
 * Average pooling (PyTorch's {@code count_include_pad=True}; in floor mode no window reaches
 * past the padding, so the divisor is always kh*kw, as oneDNN's {@code pooling_avg_include_padding}
 * takes it) through oneDNN for one backend, forward and backward, planes cut into chunks that
 * depend only on the shapes. Plain NCHW on both sides: pooling reads each value once, so a
 * reorder into a blocked layout would cost as much as the pooling itself.
 *
 * <p>Max pooling stays in Java ({@link PoolKernels}): its op returns PyTorch's flat argmax
 * indices and its backward takes them, while oneDNN keeps its argmax in an opaque workspace.
 */
final class DnnlPool implements AutoCloseable {

    /** Work per chunk, as for convolutions: below it one call on the caller is cheaper. */
    static final long CHUNK_WORK = CpuBackend.MIN_PARALLEL_WORK;

    private final OneDnn oneDnn;
    private final CpuBackend backend;
    private final stream[] streams;
    private final Map<PoolGeometry, Plan> plans = new HashMap<>();

    DnnlPool(OneDnn oneDnn, CpuBackend backend) {
        this.oneDnn = oneDnn;
        this.backend = backend;
        this.streams = new stream[backend.threads()];
        for (int i = 0; i < streams.length; i++) streams[i] = new stream(oneDnn.engine());
    }

    private static long work(PoolGeometry g) {
        return (long) g.oh() * g.ow() * g.kh() * g.kw();
    }

    private Plan plan(PoolGeometry g, int planes) {
        PoolGeometry key = new PoolGeometry(planes, g.h(), g.w(), g.kh(), g.kw(), g.sh(), g.sw(), g.ph(), g.pw());
        return plans.computeIfAbsent(key, Plan::new);
    }

    synchronized void avgForward(PoolGeometry g, float[] x, float[] out) {
        run(g, x, out, true);
    }

    synchronized void avgBackward(PoolGeometry g, float[] dout, float[] dx) {
        run(g, dout, dx, false);
    }

    private void run(PoolGeometry g, float[] in, float[] out, boolean forward) {
        oneDnn.oneThreadHere();
        DnnlConv.Chunks ch = DnnlConv.Chunks.of(g.planes(), work(g), Integer.MAX_VALUE);
        int lanes = backend.partsFor(ch.k(), CHUNK_WORK);
        Plan small = plan(g, ch.small()), large = ch.uneven() ? plan(g, ch.small() + 1) : small;
        small.lanes(lanes, forward);
        if (large != small) large.lanes(lanes, forward);
        int inPlane = forward ? g.h() * g.w() : g.oh() * g.ow(), outPlane = forward ? g.oh() * g.ow() : g.h() * g.w();
        backend.parallelForParts(ch.k(), CHUNK_WORK, (lane, c) -> {
            oneDnn.oneThreadHere();
            Plan p = ch.size(c) == ch.small() ? small : large;
            p.run(forward, lane, streams[lane], in, ch.from(c) * inPlane, out, ch.from(c) * outPlane);
        });
    }

    /** The primitives for one chunk of planes, and per lane their buffers. */
    private final class Plan implements AutoCloseable {
        private final List<AutoCloseable> owned = new ArrayList<>();
        private final memory.desc src, dst;
        private final pooling_forward.primitive_desc fwdPd;
        private final pooling_forward fwd;
        private pooling_backward.primitive_desc bwdPd;
        private pooling_backward bwd;
        private final List<Lane> fwdLanes = new ArrayList<>(), bwdLanes = new ArrayList<>();
        private final long[] strides, kernel, dilation = {0, 0}, padding;
        private final primitive_attr attr = own(new primitive_attr()); // per-lane scratchpads, as in DnnlConvPlan

        Plan(PoolGeometry g) {
            attr.set_scratchpad_mode(dnnl.scratchpad_mode.user);
            // planes as the channels of one image: the same plain memory as N*C planes
            src = own(new memory.desc(new long[] {1, g.planes(), g.h(), g.w()}, memory.data_type.f32, memory.format_tag.nchw));
            dst = own(new memory.desc(new long[] {1, g.planes(), g.oh(), g.ow()}, memory.data_type.f32, memory.format_tag.nchw));
            strides = new long[] {g.sh(), g.sw()};
            kernel = new long[] {g.kh(), g.kw()};
            padding = new long[] {g.ph(), g.pw()};
            fwdPd = own(new pooling_forward.primitive_desc(oneDnn.engine(), dnnl.prop_kind.forward_training,
                    dnnl.algorithm.pooling_avg_include_padding, src, dst, strides, kernel, dilation, padding, padding, attr, false));
            fwd = own(new pooling_forward(fwdPd));
        }

        void lanes(int n, boolean forward) {
            if (!forward && bwd == null) {
                bwdPd = own(new pooling_backward.primitive_desc(oneDnn.engine(), dnnl.algorithm.pooling_avg_include_padding,
                        src, dst, strides, kernel, dilation, padding, padding, fwdPd, attr, false));
                bwd = own(new pooling_backward(bwdPd));
            }
            List<Lane> lanes = forward ? fwdLanes : bwdLanes;
            while (lanes.size() < n) lanes.add(own(new Lane(forward)));
        }

        void run(boolean forward, int lane, stream s, float[] in, int inOff, float[] out, int outOff) {
            Lane l = (forward ? fwdLanes : bwdLanes).get(lane);
            l.in.in(s, in, inOff);
            (forward ? fwd : bwd).execute(s, l.args);
            l.out.out(s, out, outOff);
        }

        private final class Lane implements AutoCloseable {
            final DnnlEdge in, out;
            final memory scratchpad;
            final IntMemoryMap args = new IntMemoryMap();

            Lane(boolean forward) {
                scratchpad = new memory((forward ? fwdPd : bwdPd).scratchpad_desc(), oneDnn.engine());
                args.put(dnnl.DNNL_ARG_SCRATCHPAD, scratchpad);
                in = new DnnlEdge(oneDnn.engine(), forward ? src : dst, forward ? src : dst, true);
                out = new DnnlEdge(oneDnn.engine(), forward ? dst : src, forward ? dst : src, false);
                args.put(forward ? dnnl.DNNL_ARG_SRC : dnnl.DNNL_ARG_DIFF_DST, in.prim);
                args.put(forward ? dnnl.DNNL_ARG_DST : dnnl.DNNL_ARG_DIFF_SRC, out.prim);
            }

            @Override
            public void close() {
                args.close();
                in.close();
                out.close();
                scratchpad.close();
            }
        }

        private <T extends AutoCloseable> T own(T t) {
            owned.add(t);
            return t;
        }

        @Override
        public void close() {
            for (int i = owned.size() - 1; i >= 0; i--) {
                try {
                    owned.get(i).close();
                } catch (Exception ignored) {
                    // closing native handles does not fail; nothing to report at shutdown
                }
            }
        }
    }

    @Override
    public synchronized void close() {
        for (Plan p : plans.values()) p.close();
        plans.clear();
        for (stream s : streams) s.close();
    }
}
