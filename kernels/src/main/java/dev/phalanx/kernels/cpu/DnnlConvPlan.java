package dev.phalanx.kernels.cpu;

import java.util.ArrayList;
import java.util.List;

import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.convolution_backward_data;
import org.bytedeco.dnnl.convolution_backward_weights;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive_attr;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.dnnl.stream;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * oneDNN's three convolution primitives for one shape (one chunk of {@code g.n()} images),
 * created on first use with {@code format_tag::any}, and per lane (a slot of the backend's
 * parallel loop) the buffers and argument lists they run with. Weights are reordered into the
 * primitive's layout once per call on the calling thread, before the lanes start.
 */
final class DnnlConvPlan implements AutoCloseable {

    /** Which activation layouts a plan asks oneDNN for; weights and bias are always {@code format_tag::any}. */
    enum Layouts {
        /** {@code format_tag::any} everywhere: oneDNN's own choice (no plan uses it now; kept to compare against, DnnlConvTest). */
        ANY,
        /**
         * The default mode's: {@code any}, except channels-last (nhwc) where oneDNN's own choice was
         * measured slower (BENCHMARKS.md, issue #11, layouts): the weight gradient of a layer with 4
         * or more input channels (on AVX-512, LeNet's conv2 otherwise ran on an AVX2 kernel at half
         * the speed; 1.15x on AVX2), and forward convolutions where the JIT has no AVX-512
         * (oneDNN's brgemm kernels then beat its blocked ones, 1.2x to 1.4x). A request that
         * would land on oneDNN's reference kernels falls back to {@code any}.
         */
        MEASURED
    }

    /** Below this many input channels a layer is a first layer: oneDNN's plain-input kernels for it beat channels-last. */
    static final int CHANNELS_LAST_MIN_CIN = 4;

    private final ConvGeometry g;
    private final engine e;
    private final List<AutoCloseable> owned = new ArrayList<>();
    /**
     * Scratchpads are the caller's (one per lane): with the library's own, two threads running
     * one primitive at once share its scratchpad (seen: wrong bias gradients).
     */
    private final primitive_attr attr;

    private final convolution_forward.primitive_desc fwdPd;
    private convolution_forward fwd;
    private DnnlEdge fwdWeights;
    private memory bias;
    private FloatPointer biasData;
    private final List<ForwardLane> fwdLanes = new ArrayList<>();

    private convolution_backward_data.primitive_desc bwdDataPd;
    private convolution_backward_data bwdData;
    private DnnlEdge bwdDataWeights;
    private final List<DataLane> dataLanes = new ArrayList<>();

    private convolution_backward_weights.primitive_desc bwdWeightsPd;
    private convolution_backward_weights bwdWeights;
    private final List<WeightLane> weightLanes = new ArrayList<>();

    private final boolean channelsLastWeightGrad;

    /**
     * @param avx512 whether oneDNN's JIT runs AVX-512 code here ({@link OneDnn#avx512()}), which
     *               decides the forward layout under {@link Layouts#MEASURED}
     */
    DnnlConvPlan(engine e, ConvGeometry g, Layouts layouts, boolean avx512) {
        this.g = g;
        this.e = e;
        attr = own(new primitive_attr());
        attr.set_scratchpad_mode(dnnl.scratchpad_mode.user);
        convolution_forward.primitive_desc pd = null;
        if (layouts == Layouts.MEASURED && !avx512) pd = notReference(forwardPd(memory.format_tag.nhwc));
        fwdPd = pd != null ? pd : forwardPd(memory.format_tag.any);
        channelsLastWeightGrad = layouts == Layouts.MEASURED && g.cin() >= CHANNELS_LAST_MIN_CIN;
    }

    private convolution_forward.primitive_desc forwardPd(memory.format_tag activations) {
        return own(new convolution_forward.primitive_desc(e, dnnl.prop_kind.forward_training, dnnl.algorithm.convolution_direct,
                desc(src(), activations), any(weights()), any(bias()), desc(dst(), activations), strides(), padding(), padding(), attr, false));
    }

    private convolution_backward_weights.primitive_desc backwardWeightsPd(memory.format_tag activations) {
        return own(new convolution_backward_weights.primitive_desc(e, dnnl.algorithm.convolution_direct,
                desc(src(), activations), any(weights()), any(bias()), desc(dst(), activations), strides(), padding(), padding(), fwdPd, attr, false));
    }

    /** The descriptor, or null when oneDNN would run it on a reference kernel (far slower than what {@code any} gets). */
    private static <T extends org.bytedeco.dnnl.primitive_desc> T notReference(T pd) {
        return pd.impl_info_str().getString().startsWith("ref") ? null : pd;
    }

    /** Which implementation oneDNN picked for the forward pass, e.g. {@code brg_conv_fwd:avx512_core}. */
    String forwardImplementation() {
        return fwdPd.impl_info_str().getString();
    }

    /** Which implementation oneDNN picked for the weight gradient (after {@link #prepareBackwardWeights}). */
    String weightGradientImplementation() {
        return bwdWeightsPd.impl_info_str().getString();
    }

    // ---- forward ----

    /** Loads the weights and bias (null: zero) for this call's forward lanes. */
    void prepareForward(stream s, float[] weight, float[] b, int lanes) {
        if (fwd == null) {
            fwd = own(new convolution_forward(fwdPd));
            fwdWeights = own(new DnnlEdge(e, plain(weights(), memory.format_tag.oihw), fwdPd.weights_desc(), true));
            bias = own(new memory(plain(bias(), memory.format_tag.x), e));
            biasData = new FloatPointer(bias.get_data_handle()).capacity(g.cout());
        }
        fwdWeights.in(s, weight, 0);
        if (b != null) biasData.position(0).put(b, 0, g.cout());
        else biasData.position(0).fill(0);
        while (fwdLanes.size() < lanes) fwdLanes.add(own(new ForwardLane()));
        s._wait();
    }

    /** out[from..] = conv(x[from..]) for this plan's g.n() images, on lane {@code lane}. */
    void forward(int lane, stream s, float[] x, float[] out, int fromImage) {
        ForwardLane l = fwdLanes.get(lane);
        l.src.in(s, x, fromImage * g.inImage());
        fwd.execute(s, l.args);
        l.dst.out(s, out, fromImage * g.outImage());
    }

    /**
     * As {@link #forward}, for images that fill only slots {@code [firstSlot, firstSlot + count)}
     * of this plan's chunk: they are read from {@code x} from image {@code fromImage} on, the
     * other slots computed on zeros and dropped, and their results written from {@code out}'s
     * image {@code fromImage} on.
     */
    void forwardSlots(int lane, stream s, float[] x, float[] out, int fromImage, int firstSlot, int count) {
        ForwardLane l = fwdLanes.get(lane);
        l.src.inSlots(s, x, fromImage * g.inImage(), g.inImage(), firstSlot, count);
        fwd.execute(s, l.args);
        l.dst.outSlots(s, out, fromImage * g.outImage(), g.outImage(), firstSlot, count);
    }

    private final class ForwardLane implements AutoCloseable {
        final DnnlEdge src = new DnnlEdge(e, plain(src(), memory.format_tag.nchw), fwdPd.src_desc(), true);
        final DnnlEdge dst = new DnnlEdge(e, plain(dst(), memory.format_tag.nchw), fwdPd.dst_desc(), false);
        final memory scratchpad = new memory(fwdPd.scratchpad_desc(), e);
        final IntMemoryMap args = new IntMemoryMap();

        ForwardLane() {
            args.put(dnnl.DNNL_ARG_SCRATCHPAD, scratchpad);
            args.put(dnnl.DNNL_ARG_SRC, src.prim);
            args.put(dnnl.DNNL_ARG_WEIGHTS, fwdWeights.prim);
            args.put(dnnl.DNNL_ARG_BIAS, bias);
            args.put(dnnl.DNNL_ARG_DST, dst.prim);
        }

        @Override
        public void close() {
            args.close();
            src.close();
            dst.close();
            scratchpad.close();
        }
    }

    // ---- backward-data ----

    void prepareBackwardData(stream s, float[] weight, int lanes) {
        if (bwdData == null) {
            bwdDataPd = own(new convolution_backward_data.primitive_desc(e, dnnl.algorithm.convolution_direct,
                    any(src()), any(weights()), any(dst()), strides(), padding(), padding(), fwdPd, attr, false));
            bwdData = own(new convolution_backward_data(bwdDataPd));
            bwdDataWeights = own(new DnnlEdge(e, plain(weights(), memory.format_tag.oihw), bwdDataPd.weights_desc(), true));
        }
        bwdDataWeights.in(s, weight, 0);
        while (dataLanes.size() < lanes) dataLanes.add(own(new DataLane()));
        s._wait();
    }

    /** dx[from..] for this plan's images (overwritten). */
    void backwardData(int lane, stream s, float[] dout, float[] dx, int fromImage) {
        DataLane l = dataLanes.get(lane);
        l.diffDst.in(s, dout, fromImage * g.outImage());
        bwdData.execute(s, l.args);
        l.diffSrc.out(s, dx, fromImage * g.inImage());
    }

    /** As {@link #backwardData}, for images in slots {@code [firstSlot, firstSlot + count)} only (as {@link #forwardSlots}). */
    void backwardDataSlots(int lane, stream s, float[] dout, float[] dx, int fromImage, int firstSlot, int count) {
        DataLane l = dataLanes.get(lane);
        l.diffDst.inSlots(s, dout, fromImage * g.outImage(), g.outImage(), firstSlot, count);
        bwdData.execute(s, l.args);
        l.diffSrc.outSlots(s, dx, fromImage * g.inImage(), g.inImage(), firstSlot, count);
    }

    private final class DataLane implements AutoCloseable {
        final DnnlEdge diffDst = new DnnlEdge(e, plain(dst(), memory.format_tag.nchw), bwdDataPd.diff_dst_desc(), true);
        final DnnlEdge diffSrc = new DnnlEdge(e, plain(src(), memory.format_tag.nchw), bwdDataPd.diff_src_desc(), false);
        final memory scratchpad = new memory(bwdDataPd.scratchpad_desc(), e);
        final IntMemoryMap args = new IntMemoryMap();

        DataLane() {
            args.put(dnnl.DNNL_ARG_SCRATCHPAD, scratchpad);
            args.put(dnnl.DNNL_ARG_DIFF_DST, diffDst.prim);
            args.put(dnnl.DNNL_ARG_WEIGHTS, bwdDataWeights.prim);
            args.put(dnnl.DNNL_ARG_DIFF_SRC, diffSrc.prim);
        }

        @Override
        public void close() {
            args.close();
            diffDst.close();
            diffSrc.close();
            scratchpad.close();
        }
    }

    // ---- backward-weights ----

    void prepareBackwardWeights(int lanes) {
        if (bwdWeights == null) {
            convolution_backward_weights.primitive_desc pd = channelsLastWeightGrad ? notReference(backwardWeightsPd(memory.format_tag.nhwc)) : null;
            bwdWeightsPd = pd != null ? pd : backwardWeightsPd(memory.format_tag.any);
            bwdWeights = own(new convolution_backward_weights(bwdWeightsPd));
        }
        while (weightLanes.size() < lanes) weightLanes.add(own(new WeightLane()));
    }

    /**
     * The weight and bias gradients of this plan's images alone, written to
     * {@code dw[dwOff..]} (cout*patch values) and {@code db[dbOff..]} (cout values).
     */
    void backwardWeights(int lane, stream s, float[] x, float[] dout, int fromImage, float[] dw, int dwOff, float[] db, int dbOff) {
        WeightLane l = weightLanes.get(lane);
        l.src.in(s, x, fromImage * g.inImage());
        l.diffDst.in(s, dout, fromImage * g.outImage());
        bwdWeights.execute(s, l.args);
        l.diffWeights.out(s, dw, dwOff);
        l.diffBiasData.position(0).get(db, dbOff, g.cout());
    }

    /** Images whose inputs {@link #backwardWeightsEach} brings into the primitive's layouts with one reorder. */
    static final int WEIGHT_GROUP = 32;

    /**
     * The weight and bias gradients of images {@code [from, from + count)} ({@code count <=}
     * {@value #WEIGHT_GROUP}), each image alone through this one-image plan: image
     * {@code from + j}'s into {@code dw[j]} and {@code db[j]}, the bits of {@link #backwardWeights}
     * on that image (the same primitive on the same values). Where the primitive reads an input
     * in a layout without padding (nchw or nhwc: LeNet's conv2 both, conv1 its src), the group's
     * images are copied in and reordered by one call, and each image's run handed to the
     * primitive as a pointer into it, instead of a copy and a reorder per image.
     */
    void backwardWeightsEach(int lane, stream s, float[] x, float[] dout, int from, int count, float[][] dw, float[][] db) {
        backwardWeightsEach(lane, s, x, dout, from, count, dw, db, false);
    }

    /**
     * As above; with {@code raw}, each image's weight gradient is left in the primitive's layout
     * ({@link #rawWeightFloats} floats per image, {@link DnnlEdge#outRaw}): one reorder per image
     * fewer, for callers that only add the images' gradients elementwise and then make each sum
     * plain with {@link #weightsToPlain}.
     */
    void backwardWeightsEach(int lane, stream s, float[] x, float[] dout, int from, int count, float[][] dw, float[][] db, boolean raw) {
        if (g.n() != 1 || count > WEIGHT_GROUP) {
            throw new IllegalStateException("backwardWeightsEach: a one-image plan and at most " + WEIGHT_GROUP + " images, got " + g.n() + " and " + count);
        }
        WeightLane l = weightLanes.get(lane);
        GroupInput srcGroup = l.srcGroup(count), diffDstGroup = l.diffDstGroup(count);
        if (srcGroup != null) srcGroup.load(s, x, from * g.inImage());
        if (diffDstGroup != null) diffDstGroup.load(s, dout, from * g.outImage());
        try {
            for (int j = 0; j < count; j++) {
                if (srcGroup != null) l.src.prim.set_data_handle(srcGroup.image(j));
                else l.src.in(s, x, (from + j) * g.inImage());
                if (diffDstGroup != null) l.diffDst.prim.set_data_handle(diffDstGroup.image(j));
                else l.diffDst.in(s, dout, (from + j) * g.outImage());
                bwdWeights.execute(s, l.args);
                if (raw) l.diffWeights.outRaw(s, dw[j]); else l.diffWeights.out(s, dw[j], 0);
                l.diffBiasData.position(0).get(db[j], 0, g.cout());
            }
        } finally {
            if (srcGroup != null) l.src.prim.set_data_handle(l.srcHandle);
            if (diffDstGroup != null) l.diffDst.prim.set_data_handle(l.diffDstHandle);
        }
    }

    /** The floats of one weight gradient in the primitive's layout (padded where its blocks are); after {@link #prepareBackwardWeights}. */
    int rawWeightFloats() {
        return weightLanes.get(0).diffWeights.primFloats();
    }

    /** {@code plain} (cout x patch, oihw) = {@code raw} (the primitive's layout) reordered: the same values, moved. */
    void weightsToPlain(int lane, stream s, float[] raw, float[] plain) {
        weightLanes.get(lane).diffWeights.toPlain(s, raw, plain);
    }

    /**
     * A group of images of one input of the one-image weight gradient: copied in as nchw,
     * reordered in one call into the layout the primitive reads one image of (nchw or nhwc, no
     * padding, so image j is the run at {@code j * image} floats). One per group size a lane meets.
     */
    private final class GroupInput implements AutoCloseable {
        private final memory user, prim;
        private final FloatPointer userData;
        private final reorder reorder;                     // null: the primitive reads nchw as it is
        private final long base;
        private final int image, images;

        GroupInput(long[] one, memory.format_tag tag, int images) {
            long[] dims = one.clone();
            dims[0] = images;
            this.images = images;
            image = Math.toIntExact(one[1] * one[2] * one[3]);
            user = new memory(plain(dims, memory.format_tag.nchw), e);
            userData = new FloatPointer(user.get_data_handle()).capacity((long) images * image);
            if (tag == memory.format_tag.nchw) {
                prim = user;
                reorder = null;
            } else {
                prim = new memory(plain(dims, tag), e);
                reorder = new reorder(user, prim);
            }
            base = prim.get_data_handle().address();
        }

        void load(stream s, float[] a, int off) {
            userData.position(0).put(a, off, images * image);
            userData.position(0);
            if (reorder != null) reorder.execute(s, user, prim);
            s._wait();
        }

        /** Image j's run in the primitive's layout, as a pointer that owns nothing. */
        Pointer image(int j) {
            long at = base + (long) j * image * Float.BYTES;
            return new Pointer() {
                {
                    address = at;
                }
            };
        }

        @Override
        public void close() {
            if (reorder != null) {
                reorder.close();
                prim.close();
            }
            userData.close();
            user.close();
        }
    }

    /** The unpadded layout (nchw or nhwc) in which the primitive reads a one-image operand as {@code chosen}, or null where it is padded or blocked. */
    private memory.format_tag unpadded(long[] one, memory.desc chosen) {
        if (g.n() != 1) return null;
        for (memory.format_tag tag : new memory.format_tag[] {memory.format_tag.nchw, memory.format_tag.nhwc}) {
            if (chosen.equals(plain(one, tag))) return tag;
        }
        return null;
    }

    private final class WeightLane implements AutoCloseable {
        final DnnlEdge src = new DnnlEdge(e, plain(src(), memory.format_tag.nchw), bwdWeightsPd.src_desc(), true);
        final DnnlEdge diffDst = new DnnlEdge(e, plain(dst(), memory.format_tag.nchw), bwdWeightsPd.diff_dst_desc(), true);
        final DnnlEdge diffWeights = new DnnlEdge(e, plain(weights(), memory.format_tag.oihw), bwdWeightsPd.diff_weights_desc(), false);
        final memory diffBias = new memory(bwdWeightsPd.diff_weights_desc(1), e);
        final FloatPointer diffBiasData = new FloatPointer(diffBias.get_data_handle()).capacity(g.cout());
        final memory scratchpad = new memory(bwdWeightsPd.scratchpad_desc(), e);
        final IntMemoryMap args = new IntMemoryMap();
        final memory.format_tag srcTag = unpadded(src(), bwdWeightsPd.src_desc()), diffDstTag = unpadded(dst(), bwdWeightsPd.diff_dst_desc());
        /** By group size: made on first use (a batch meets two or three sizes: the group, the rest, their halves on two threads). */
        final GroupInput[] srcGroups = new GroupInput[WEIGHT_GROUP + 1], diffDstGroups = new GroupInput[WEIGHT_GROUP + 1];
        /** The primitive's own buffers, handed back after {@link #backwardWeightsEach} pointed it into a group. */
        final Pointer srcHandle = src.prim.get_data_handle(), diffDstHandle = diffDst.prim.get_data_handle();

        WeightLane() {
            args.put(dnnl.DNNL_ARG_SCRATCHPAD, scratchpad);
            args.put(dnnl.DNNL_ARG_SRC, src.prim);
            args.put(dnnl.DNNL_ARG_DIFF_DST, diffDst.prim);
            args.put(dnnl.DNNL_ARG_DIFF_WEIGHTS, diffWeights.prim);
            args.put(dnnl.DNNL_ARG_DIFF_BIAS, diffBias);
        }

        @Override
        public void close() {
            args.close();
            src.close();
            diffDst.close();
            diffWeights.close();
            diffBias.close();
            scratchpad.close();
            for (GroupInput gi : srcGroups) if (gi != null) gi.close();
            for (GroupInput gi : diffDstGroups) if (gi != null) gi.close();
        }

        GroupInput srcGroup(int count) {
            if (srcTag == null) return null;
            if (srcGroups[count] == null) srcGroups[count] = new GroupInput(src(), srcTag, count);
            return srcGroups[count];
        }

        GroupInput diffDstGroup(int count) {
            if (diffDstTag == null) return null;
            if (diffDstGroups[count] == null) diffDstGroups[count] = new GroupInput(dst(), diffDstTag, count);
            return diffDstGroups[count];
        }
    }

    // ---- shapes ----

    private long[] src() { return new long[] {g.n(), g.cin(), g.h(), g.w()}; }
    private long[] weights() { return new long[] {g.cout(), g.cin(), g.kh(), g.kw()}; }
    private long[] bias() { return new long[] {g.cout()}; }
    private long[] dst() { return new long[] {g.n(), g.cout(), g.oh(), g.ow()}; }
    private long[] strides() { return new long[] {g.sh(), g.sw()}; }
    /** Both sides: with floor rounding oneDNN derives the same output size as PyTorch. */
    private long[] padding() { return new long[] {g.ph(), g.pw()}; }

    private memory.desc any(long[] dims) {
        return desc(dims, memory.format_tag.any);
    }

    private memory.desc desc(long[] dims, memory.format_tag tag) {
        return own(new memory.desc(dims, memory.data_type.f32, tag));
    }

    private memory.desc plain(long[] dims, memory.format_tag tag) {
        return own(new memory.desc(dims, memory.data_type.f32, tag));
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
        owned.clear();
    }
}
