package dev.phalanx.parallel.cluster;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.concurrent.TimeoutException;

import com.google.protobuf.ByteString;

import dev.phalanx.protocol.cluster.RingChunk;

/**
 * The bandwidth-optimal ring all-reduce (Patarasuk and Yuan; Horovod, NCCL): the array is cut
 * into N chunks; in N-1 reduce-scatter phases each node adds the chunk its left neighbour sends
 * to its own and passes the sum on, so that each node ends up holding one chunk summed over all
 * nodes; in N-1 all-gather phases those sums go round once more. Each node sends
 * 2(N-1)/N of the array, whatever N. Every node ends with the same bits: each chunk is summed
 * once, on one node, and then copied.
 */
public final class RingAllReduce {

    private final int rank, size;
    private final RingLink link;

    public RingAllReduce(int rank, int size, RingLink link) {
        if (size < 1 || rank < 0 || rank >= size) throw new IllegalArgumentException("rank " + rank + " of a ring of " + size);
        this.rank = rank;
        this.size = size;
        this.link = link;
    }

    public int size() {
        return size;
    }

    public long bytesSent() {
        return link == null ? 0 : link.bytesSent();
    }

    /** The sum over all nodes of {@code values} (bucket {@code bucket} of step {@code step}); {@code values} is overwritten. */
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

    /** Where chunk {@code c} of an array of {@code length} values starts (chunks differ by at most one value). */
    int start(int c, int length) {
        return (int) ((long) c * length / size);
    }

    private void send(long step, int bucket, int phase, int chunk, float[] values) {
        int from = start(chunk, values.length), to = start(chunk + 1, values.length);
        ByteBuffer buf = ByteBuffer.allocate((to - from) * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(values, from, to - from);
        link.send(RingChunk.newBuilder().setStep(step).setBucket(bucket).setPhase(phase).setChunk(chunk)
                .setValues(ByteString.copyFrom(buf.array())).build());
    }

    private float[] receive(long step, int bucket, int phase, int chunk, float[] values, Duration timeout)
            throws TimeoutException, InterruptedException {
        RingChunk c = link.receive(timeout);
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
