package dev.phalanx.parallel.cluster;

import java.io.ByteArrayOutputStream;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeoutException;

import com.google.protobuf.ByteString;

import dev.phalanx.io.SafeTensors;
import dev.phalanx.parallel.Replica;
import dev.phalanx.protocol.cluster.RingChunk;
import dev.phalanx.tensor.Tensor;

/**
 * The job's state (parameters and optimizer state) sent from the coordinator round the ring on
 * the data channel: on {@code --resume}, every node must start from the checkpoint, and a
 * checkpoint is far too large for a cluster message. The state travels as the bytes of one
 * safetensors file (exact bits, every dtype), cut into frames; each worker passes each frame on
 * to its right neighbour unless that is the coordinator.
 */
final class StateBroadcast {

    /** Bytes per frame: a few MiB, far below the channel's frame limit. */
    static final int FRAME_BYTES = 4 << 20;
    /** The bucket number that marks a frame of state rather than gradients. */
    static final int STATE_BUCKET = -1;
    private static final String MODEL = "model/", OPTIMIZER = "optimizer/";

    private StateBroadcast() { }

    /** The snapshot as the bytes of one safetensors file. */
    static byte[] encode(Replica.Snapshot s) {
        Map<String, Tensor> all = new LinkedHashMap<>();
        s.model().forEach((k, v) -> all.put(MODEL + k, v));
        s.optimizer().forEach((k, v) -> all.put(OPTIMIZER + k, v));
        return SafeTensors.serialize(all, Map.of());
    }

    static Replica.Snapshot decode(byte[] bytes) {
        Map<String, Tensor> model = new LinkedHashMap<>(), optimizer = new LinkedHashMap<>();
        for (var e : SafeTensors.parse(bytes, "the job's state from the coordinator").tensors().entrySet()) {
            if (e.getKey().startsWith(MODEL)) model.put(e.getKey().substring(MODEL.length()), e.getValue());
            else if (e.getKey().startsWith(OPTIMIZER)) optimizer.put(e.getKey().substring(OPTIMIZER.length()), e.getValue());
            else throw new IllegalStateException("the job's state holds an unexpected tensor " + e.getKey());
        }
        return new Replica.Snapshot(model, optimizer);
    }

    /** How many frames {@code bytes} take. */
    static int frames(byte[] bytes) {
        return Math.max(1, (bytes.length + FRAME_BYTES - 1) / FRAME_BYTES);
    }

    /** Sends the state to the right neighbour, frame by frame, as broadcast {@code id}. */
    static void send(RingLink link, long id, byte[] bytes) {
        int frames = frames(bytes);
        for (int f = 0; f < frames; f++) {
            int from = f * FRAME_BYTES, to = Math.min(bytes.length, from + FRAME_BYTES);
            link.send(RingChunk.newBuilder().setStep(id).setBucket(STATE_BUCKET).setPhase(f).setChunk(frames)
                    .setState(ByteString.copyFrom(bytes, from, to - from)).build());
        }
    }

    /**
     * Takes the {@code frames} frames of broadcast {@code id} from the left neighbour, passing each
     * on to the right one when {@code forward}, and returns the snapshot. What is left of an aborted
     * step or of an earlier broadcast given up (a node lost) is dropped.
     */
    static Replica.Snapshot receive(RingLink link, long id, int frames, boolean forward, Duration timeout) throws TimeoutException, InterruptedException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        for (int f = 0; f < frames; f++) {
            RingChunk c = link.receive(timeout);
            if (c.getBucket() != STATE_BUCKET || c.getStep() < id) {
                f--;
                continue;
            }
            if (c.getStep() != id || c.getPhase() != f || c.getChunk() != frames) {
                throw new IllegalStateException("expected part " + (f + 1) + " of " + frames + " of the job's state (broadcast " + id
                        + ") on the data channel, got part " + (c.getPhase() + 1) + " of " + c.getChunk() + " of broadcast " + c.getStep());
            }
            if (forward) link.send(c);
            bytes.writeBytes(c.getState().toByteArray());
        }
        return decode(bytes.toByteArray());
    }
}
