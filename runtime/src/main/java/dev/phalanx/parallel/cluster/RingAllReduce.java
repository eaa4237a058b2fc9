package dev.phalanx.parallel.cluster;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeoutException;

import com.google.protobuf.ByteString;

import dev.phalanx.kernels.reduce.SampleTree;
import dev.phalanx.protocol.cluster.RingChunk;
import dev.phalanx.protocol.cluster.TreePiece;

/**
 * The bandwidth-optimal ring all-reduce (Patarasuk and Yuan; Horovod, NCCL): the array is cut
 * into N chunks; in N-1 reduce-scatter phases each node adds the chunk its left neighbour sends
 * to its own and passes the sum on, so that each node ends up holding one chunk summed over all
 * nodes; in N-1 all-gather phases those sums go round once more. Each node sends
 * 2(N-1)/N of the array, whatever N. Every node ends with the same bits: each chunk is summed
 * once, on one node, and then copied.
 *
 * <p>The reproducible mode ({@link #allReduceTree}) keeps the shape but not the sums: in the N-1
 * gather phases each node passes on the sample tree's pieces of a chunk (its own and those it
 * received) instead of adding them, so that each node ends up with every node's pieces of one
 * chunk and finishes that chunk's tree with {@link SampleTree#combine} (elementwise, so the
 * chunk of each piece combines to the chunk of the root, in the tree's order whatever the
 * arrival order); the all-gather then copies the finished chunks round.
 */
public final class RingAllReduce implements CrossNodeSum {

    private final int rank, size;
    private final RingLink link;

    public RingAllReduce(int rank, int size, RingLink link) {
        if (size < 1 || rank < 0 || rank >= size) throw new IllegalArgumentException("rank " + rank + " of a ring of " + size);
        this.rank = rank;
        this.size = size;
        this.link = link;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public String describe() {
        return "ring all-reduce on the data channel";
    }

    public long bytesSent() {
        return link == null ? 0 : link.bytesSent();
    }

    /** The sum over all nodes of {@code values} (bucket {@code bucket} of step {@code step}); {@code values} is overwritten. */
    @Override
    public float[] allReduce(long step, int bucket, float[] values, Duration timeout) throws TimeoutException, InterruptedException {
        if (size == 1) return values;
        int n = size;
        for (int k = 0; k < n - 1; k++) { // reduce-scatter
            int out = Math.floorMod(rank - k, n), in = Math.floorMod(rank - k - 1, n);
            send(step, bucket, k, out, values);
            float[] got = receive(step, bucket, k, in, values, timeout);
            int from = start(in, values.length);
            for (int i = 0; i < got.length; i++) values[from + i] = got[i] + values[from + i];
        }
        for (int k = 0; k < n - 1; k++) { // all-gather
            int out = Math.floorMod(rank + 1 - k, n), in = Math.floorMod(rank - k, n);
            send(step, bucket, n - 1 + k, out, values);
            float[] got = receive(step, bucket, n - 1 + k, in, values, timeout);
            System.arraycopy(got, 0, values, start(in, values.length), got.length);
        }
        return values;
    }

    /**
     * The reproducible mode: the sum along the sample tree of a batch of {@code batch} samples of
     * every node's pieces ({@code mine}: this node's, each of {@code length} values; together the
     * nodes' pieces cover the batch exactly). Every node gets the same bits as one replica that
     * summed the whole batch along the tree.
     */
    @Override
    public float[] allReduceTree(long step, int bucket, int batch, Map<SampleTree.Block, float[]> mine, int length, Duration timeout)
            throws TimeoutException, InterruptedException {
        for (float[] p : mine.values()) {
            if (p.length != length) throw new IllegalArgumentException("a tree piece of " + p.length + " values in a bucket of " + length);
        }
        if (size == 1) return SampleTree.combine(batch, mine);
        int n = size;
        List<Map<SampleTree.Block, float[]>> held = new ArrayList<>(n); // per chunk: the pieces known here
        for (int c = 0; c < n; c++) {
            Map<SampleTree.Block, float[]> part = new HashMap<>();
            int from = start(c, length), to = start(c + 1, length);
            for (var e : mine.entrySet()) part.put(e.getKey(), java.util.Arrays.copyOfRange(e.getValue(), from, to));
            held.add(part);
        }
        for (int k = 0; k < n - 1; k++) { // gather: pass each chunk's pieces on; after N-1 phases chunk rank+1 has all of them
            int out = Math.floorMod(rank - k, n), in = Math.floorMod(rank - k - 1, n);
            sendPieces(step, bucket, k, out, held.get(out));
            held.get(in).putAll(receivePieces(step, bucket, k, in, length, timeout));
        }
        float[] values = new float[length];
        int done = Math.floorMod(rank + 1, n);
        float[] finished = SampleTree.combine(batch, held.get(done));
        System.arraycopy(finished, 0, values, start(done, length), finished.length);
        for (int k = 0; k < n - 1; k++) { // all-gather of the finished chunks, as in the plain ring
            int out = Math.floorMod(rank + 1 - k, n), in = Math.floorMod(rank - k, n);
            send(step, bucket, n - 1 + k, out, values);
            float[] got = receive(step, bucket, n - 1 + k, in, values, timeout);
            System.arraycopy(got, 0, values, start(in, values.length), got.length);
        }
        return values;
    }

    private void sendPieces(long step, int bucket, int phase, int chunk, Map<SampleTree.Block, float[]> pieces) {
        RingChunk.Builder b = RingChunk.newBuilder().setStep(step).setBucket(bucket).setPhase(phase).setChunk(chunk);
        for (var e : pieces.entrySet()) {
            b.addPieces(TreePiece.newBuilder().setStart(e.getKey().start()).setEnd(e.getKey().end()).setValues(bytes(e.getValue(), 0, e.getValue().length)));
        }
        link.send(b.build());
    }

    private Map<SampleTree.Block, float[]> receivePieces(long step, int bucket, int phase, int chunk, int length, Duration timeout)
            throws TimeoutException, InterruptedException {
        RingChunk c = next(step, timeout);
        int expected = start(chunk + 1, length) - start(chunk, length);
        boolean sizes = c.getValues().isEmpty() && c.getPiecesList().stream().allMatch(p -> p.getValues().size() == expected * Float.BYTES);
        if (c.getStep() != step || c.getBucket() != bucket || c.getPhase() != phase || c.getChunk() != chunk || !sizes) {
            throw new IllegalStateException("ring out of step: node " + rank + " expected the tree pieces of step " + step + " bucket " + bucket + " phase "
                    + phase + " chunk " + chunk + " (" + expected + " values each) from its left neighbour, got step " + c.getStep() + " bucket "
                    + c.getBucket() + " phase " + c.getPhase() + " chunk " + c.getChunk() + " (" + c.getPiecesCount() + " pieces)");
        }
        Map<SampleTree.Block, float[]> out = new HashMap<>();
        for (TreePiece p : c.getPiecesList()) {
            float[] v = new float[expected];
            p.getValues().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
            out.put(new SampleTree.Block(p.getStart(), p.getEnd()), v);
        }
        return out;
    }

    /**
     * The next frame of step {@code step} or later from the left neighbour. Frames of earlier steps
     * are what is left of a step aborted when a node was lost (it is retried under a new number),
     * and state frames of a broadcast given up: dropped.
     */
    private RingChunk next(long step, Duration timeout) throws TimeoutException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            long left = deadline - System.nanoTime();
            if (left <= 0) throw new TimeoutException("nothing of step " + step + " came from the left neighbour on the data channel within " + timeout.toMillis() + " ms");
            RingChunk c = link.receive(Duration.ofNanos(left));
            if (c.getStep() >= step && c.getBucket() != StateBroadcast.STATE_BUCKET) return c;
        }
    }

    private static ByteString bytes(float[] values, int from, int count) {
        ByteBuffer buf = ByteBuffer.allocate(count * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(values, from, count);
        return ByteString.copyFrom(buf.array());
    }

    /** Where chunk {@code c} of an array of {@code length} values starts (chunks differ by at most one value). */
    int start(int c, int length) {
        return (int) ((long) c * length / size);
    }

    private void send(long step, int bucket, int phase, int chunk, float[] values) {
        int from = start(chunk, values.length), to = start(chunk + 1, values.length);
        link.send(RingChunk.newBuilder().setStep(step).setBucket(bucket).setPhase(phase).setChunk(chunk)
                .setValues(bytes(values, from, to - from)).build());
    }

    private float[] receive(long step, int bucket, int phase, int chunk, float[] values, Duration timeout)
            throws TimeoutException, InterruptedException {
        RingChunk c = next(step, timeout);
        int expected = start(chunk + 1, values.length) - start(chunk, values.length);
        if (c.getStep() != step || c.getBucket() != bucket || c.getPhase() != phase || c.getChunk() != chunk
                || c.getValues().size() != expected * Float.BYTES) {
            throw new IllegalStateException("ring out of step: node " + rank + " expected step " + step + " bucket " + bucket + " phase " + phase
                    + " chunk " + chunk + " (" + expected + " values) from its left neighbour, got step " + c.getStep() + " bucket " + c.getBucket()
                    + " phase " + c.getPhase() + " chunk " + c.getChunk() + " (" + c.getValues().size() / Float.BYTES + " values)");
        }
        float[] out = new float[expected];
        c.getValues().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
        return out;
    }
}
