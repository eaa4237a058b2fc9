package dev.phalanx.parallel;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;

import dev.phalanx.autograd.Backward;
import dev.phalanx.autograd.GradMode;
import dev.phalanx.autograd.Reproducible;
import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.DeviceContext;
import dev.phalanx.kernels.DeviceContexts;
import dev.phalanx.kernels.device.Stream;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.Module;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.tensor.DType;
import dev.phalanx.tensor.DeviceTensors;
import dev.phalanx.train.BatchUploads;
import dev.phalanx.train.StepGraph;

/**
 * One model copy on one device, on its own pinned thread, with its own autograd tape, CPU
 * backend and optimizer state. For a training step it computes its shard (loss weighted by
 * rows/B), offers each gradient bucket to the all-reduce as soon as backward completes it,
 * and on {@link ReplicaCommand.Apply} copies the reduced gradients back and steps its optimizer.
 *
 * <p>On a device ({@code cuda:N}, {@code sim:N}) the model, its gradients and the optimizer state
 * live in device memory and every op of this replica is enqueued on its own stream
 * ({@link DeviceContext#replicaStream}, bound per message as the CPU backend is): a training
 * shard's rows go up through two pinned slots on the replica's own copy stream
 * ({@link BatchUploads}, {@link DeviceContext#replicaCopyStream}) while its previous step
 * computes, the replica's stream waiting for the copy through an event; the buckets are flattened on the device ({@link DeviceBuckets}) and summed there
 * ({@link DeviceGroupAllReduce}) or, where the replicas' devices call for it, through the host
 * all-reduce; only the loss, the outputs, checksums and snapshots come back to the host. With the
 * CUDA graph on and every replica on one device, the full batches' steps are captured into one
 * graph across the replicas' streams and replayed ({@link DeviceStepGraph}): {@code Compute} then
 * does the whole step, and {@code Apply} only reports.
 */
public final class Replica extends AbstractBehavior<ReplicaCommand> {

    /** Copies of a replica's model state dict and optimizer state. */
    public record Snapshot(Map<String, Tensor> model, Map<String, Tensor> optimizer) { }

    private final int index;
    private final Device device;
    private final ReplicaSpec spec;
    private final AllReduce allReduce;
    private final CpuBackend backend;
    private final DeviceContext context; // null on the cpu
    private final Stream stream;         // this replica's stream on its device; null on the cpu
    private DeviceBuckets deviceBuckets; // null on the cpu
    private BatchUploads uploads;        // a training shard's way up, made at the first one; null on the cpu
    private DeviceStepGraph stepGraph;   // the replicas' shared CUDA graph of their step; null when not asked for or not one device
    private String notCapturable;        // why this model and optimizer cannot be replayed, or null
    private Tensor graphInputs;          // the graph's fixed buffers of this replica's shard, made at the warm-up
    private Tensor graphLabels;
    private Tensor graphLoss;            // what the captured step writes, overwritten by each replay
    private Tensor graphOut;
    private boolean graphStep;           // this step's update ran in the graph: Apply only reports
    private boolean tracing;             // the warm-up traces this stream's allocator requests until its Apply
    private Module model;
    private Optimizer optimizer;
    private GradientBuckets buckets;

    public static Behavior<ReplicaCommand> create(int index, Device device, ReplicaSpec spec, AllReduce allReduce) {
        return Behaviors.setup(ctx -> new Replica(ctx, index, device, spec, allReduce));
    }

    private Replica(ActorContext<ReplicaCommand> ctx, int index, Device device, ReplicaSpec spec, AllReduce allReduce) {
        super(ctx);
        this.index = index;
        this.device = device;
        this.spec = spec;
        this.allReduce = allReduce;
        this.backend = CpuBackend.create(spec.threads(), spec.kernels());
        this.context = device.isCpu() ? null : DeviceContexts.of(device);
        this.stream = context == null ? null : context.replicaStream(index);
        bound(() -> {
            build();
            return this;
        });
    }

    private void build() {
        model = spec.model().get();
        model.to(device);
        optimizer = spec.optimizer().apply(model.parameters());
        buckets = new GradientBuckets(model.parameters(), spec.bucketCapFloats());
        deviceBuckets = context == null ? null : new DeviceBuckets(buckets, context);
        if (spec.cudaGraph() && context != null && !spec.reproducible() && allReduce instanceof DeviceGroupAllReduce group) {
            stepGraph = group.stepGraph(context);
            notCapturable = StepGraph.whyNotCapturable(optimizer); // the rule of one replica's graph
        }
    }

    @Override
    public Receive<ReplicaCommand> createReceive() {
        // the backend is bound per message: correct on whatever thread the dispatcher gives us
        return newReceiveBuilder()
                .onMessage(ReplicaCommand.Compute.class, m -> bound(() -> onCompute(m)))
                .onMessage(ReplicaCommand.Apply.class, m -> bound(() -> onApply(m)))
                .onMessage(ReplicaCommand.TakeSnapshot.class, m -> bound(() -> onTakeSnapshot(m)))
                .onMessage(ReplicaCommand.Restore.class, m -> bound(() -> onRestore(m)))
                .onSignal(PostStop.class, s -> {
                    backend.close();
                    if (uploads != null) uploads.close(); // waits for its copies in flight, frees its pinned buffers
                    return this;
                })
                .build();
    }

    /** Runs a message's work with this replica's CPU backend, and on a device its stream, bound to the thread. */
    private Behavior<ReplicaCommand> bound(java.util.function.Supplier<Behavior<ReplicaCommand>> handler) {
        try (var scope = Backends.use(backend); var onStream = context == null ? null : context.bind(stream)) {
            return handler.get();
        }
    }

    /** A host copy of a replica's tensor (a model or optimizer state), without autograd. */
    private static Tensor hostCopy(Tensor t) {
        Tensor d = t.detach();
        return d.device().isCpu() ? d.clone() : d.to(Device.CPU);
    }

    /** Rows of the host batch, on this replica's device. */
    private Tensor rowsOnDevice(Tensor batch, Shards.Range range) {
        Tensor rows = batch.narrow(0, range.begin(), range.rows());
        return context == null ? rows : rows.to(device);
    }

    /** What a replica sends back of a device tensor: a host copy (tensors on a device never travel in messages). */
    private Tensor toHost(Tensor t) {
        return context == null ? t : t.to(Device.CPU);
    }

    private Behavior<ReplicaCommand> onCompute(ReplicaCommand.Compute c) {
        long t0 = System.nanoTime();
        try {
            if (!c.train()) {
                try (var scope = GradMode.noGrad()) {
                    Tensor out = toHost(model.forward(rowsOnDevice(c.inputs(), c.range())));
                    c.replyTo().tell(new ReplicaReply.ShardComputed(c.step(), index, 0f, null, out, System.nanoTime() - t0));
                }
                return this;
            }
            spec.faults().beforeCompute(index, c.step());
            boolean rows = c.range().rows() > 0;
            Tensor hostRows = rows ? c.inputs().narrow(0, c.range().begin(), c.range().rows()) : null;
            Tensor hostLabels = rows ? c.labels().narrow(0, c.range().begin(), c.range().rows()) : null;
            if (stepGraph != null && rows && BatchUploads.fits(hostRows, hostLabels)) {
                DeviceStepGraph.Mode mode = stepGraph.mode(c.step(), c.batch(), notCapturable);
                if (mode != DeviceStepGraph.Mode.EAGER) {
                    graphCompute(c, mode, hostRows, hostLabels, t0);
                    return this;
                }
            }
            model.train();
            model.zeroGrad();
            if (!rows) { // more replicas than shards: contribute zeros, still step
                for (int b = 0; b < buckets.count(); b++) {
                    if (spec.reproducible()) allReduce.contributePieces(c.step(), index, b, c.place().batch(), List.of(), List.of()); // no rows, no pieces
                    else if (deviceBuckets != null) offer(c, b, null); // the gradients zeroed above
                    else allReduce.contribute(c.step(), index, b, new float[buckets.size(b)]);
                }
                c.replyTo().tell(new ReplicaReply.ShardComputed(c.step(), index, 0f, null, null, System.nanoTime() - t0));
                return this;
            }
            Tensor x, y;
            boolean pinned = context != null && BatchUploads.fits(hostRows, hostLabels);
            if (pinned) { // two pinned slots on this replica's copy stream; this stream waits for the copy, the host does not
                if (uploads == null) uploads = new BatchUploads(context, context.replicaCopyStream(index));
                BatchUploads.OnDevice on = uploads.upload(hostRows, hostLabels, spec.faults().waitsForShardUpload(index, c.step()));
                x = on.inputs();
                y = on.labels();
            } else {
                x = rowsOnDevice(c.inputs(), c.range());
                y = rowsOnDevice(c.labels(), c.range());
            }
            // reproducible mode (#13): the ops work sample by sample and sum gradients along the sample tree, whose
            // leaves are the samples' indices in the global batch (a cluster node holds a part of it)
            try (var repro = spec.reproducible() ? Reproducible.bind(c.place().offset() + c.range().begin(), c.range().rows(), c.place().batch()) : null) {
                Tensor out = model.forward(x);
                Tensor loss = spec.loss().apply(out, y);
                // default mode: weighted by rows/B, so the sum over replicas is the gradient of the whole batch's mean
                // loss; reproducible mode: the loss already scales each sample by 1/B of the global batch. On a device the
                // weight is backward's upstream gradient (the same product: mul's backward passes the weight times 1)
                float weight = c.range().rows() / (float) c.batch();
                Tensor upstream = null;
                if (repro == null && context == null) loss = loss.mul(weight);
                else if (repro == null) upstream = Tensor.onesLike(loss).mul_(weight);
                try {
                    backwardAndOffer(c, loss, upstream, repro);
                } finally {
                    if (pinned) uploads.consumed(); // nothing after backward reads the shard: its slot may be written again
                }
                float lossValue = upstream == null ? loss.item() : loss.item() * weight;
                c.replyTo().tell(new ReplicaReply.ShardComputed(c.step(), index, lossValue,
                        repro == null ? null : repro.shard().loss(), toHost(out.detach()), System.nanoTime() - t0));
            }
        } catch (Throwable e) {
            if (uploads != null) uploads.consumed(); // a forward that failed: its enqueued work is all that reads the slot
            allReduce.withdraw(c.step(), index);
            c.replyTo().tell(new ReplicaReply.ShardFailed(c.step(), index, e, true));
        }
        return this;
    }

    /** Backward from the loss, offering each bucket as backward completes it, then the buckets the loss did not reach. */
    private void backwardAndOffer(ReplicaCommand.Compute c, Tensor loss, Tensor upstream, Reproducible.Scope repro) {
        int[] ready = new int[buckets.count()];
        boolean[] sent = new boolean[buckets.count()];
        Backward.run(loss, upstream, leaf -> {
            int b = buckets.bucketOf(leaf);
            if (b >= 0 && ++ready[b] == buckets.params(b).size()) {
                offer(c, b, repro);
                sent[b] = true;
            }
        });
        for (int b = 0; b < buckets.count(); b++) {
            if (!sent[b]) offer(c, b, repro); // parameters the loss did not use
        }
    }

    /**
     * A full batch's step with the replicas' CUDA graph: the shard goes up through the pinned
     * slots and is copied into the graph's fixed buffers on this replica's stream; then the
     * warm-up (an eager step, its allocator requests traced until Apply), or the capture followed
     * by the first replay, or a replay.
     */
    private void graphCompute(ReplicaCommand.Compute c, DeviceStepGraph.Mode mode, Tensor hostRows, Tensor hostLabels, long t0) throws Exception {
        if (uploads == null) uploads = new BatchUploads(context, context.replicaCopyStream(index));
        if (graphInputs == null) {
            graphInputs = DeviceTensors.empty(context, DType.FLOAT32, hostRows.shape());
            graphLabels = DeviceTensors.empty(context, DType.INT64, hostLabels.size(0));
        }
        BatchUploads.OnDevice on = uploads.upload(hostRows, hostLabels, spec.faults().waitsForShardUpload(index, c.step()));
        var api = context.api();
        api.copyDeviceToDevice(DeviceTensors.buffer(on.inputs(), stream), DeviceTensors.buffer(graphInputs, stream),
                (long) graphInputs.numel() * Float.BYTES, stream);
        api.copyDeviceToDevice(DeviceTensors.buffer(on.labels(), stream), DeviceTensors.buffer(graphLabels, stream),
                (long) graphLabels.numel() * Long.BYTES, stream);
        uploads.consumed(); // the slot was copied into the graph's buffers: the shard after next may go there
        float weight = c.range().rows() / (float) c.batch();
        if (mode == DeviceStepGraph.Mode.WARM_UP) {
            context.allocator().startTrace(stream);
            tracing = true;
            Tensor[] lo = enqueueShardStep(c, weight);
            c.replyTo().tell(new ReplicaReply.ShardComputed(c.step(), index, lo[0].item() * weight, null, toHost(lo[1]), System.nanoTime() - t0));
            return;
        }
        if (mode == DeviceStepGraph.Mode.CAPTURE) captureStep(c, weight);
        replayStep(c);
        graphStep = true;
        c.replyTo().tell(new ReplicaReply.ShardComputed(c.step(), index, graphLoss.item() * weight, null, toHost(graphOut),
                System.nanoTime() - t0));
    }

    /** Zero the gradients, forward on the graph's buffers, the weighted loss's backward with the bucket offers; returns the loss and the logits. */
    private Tensor[] enqueueShardStep(ReplicaCommand.Compute c, float weight) {
        model.train();
        model.zeroGrad();
        Tensor out = model.forward(graphInputs);
        Tensor loss = spec.loss().apply(out, graphLabels);
        backwardAndOffer(c, loss, Tensor.onesLike(loss).mul_(weight), null);
        return new Tensor[] {loss, out.detach()};
    }

    /**
     * Captures this replica's part of the step into the replicas' graph: replica 0 begins the
     * capture on its stream, the others join it through the fork event; each enqueues its forward,
     * backward, offers, the wait for its sums and its update, and records its join event; replica 0
     * ends the capture. A failure anywhere fails every replica's step and turns the graph off;
     * replica 0 ends the capture only once every replica has stopped enqueuing into it.
     */
    private void captureStep(ReplicaCommand.Compute c, float weight) throws Exception {
        long step = c.step();
        java.time.Duration timeout = spec.reduceTimeout();
        boolean joined = false;
        try {
            // what the captured kernels use that was made before: on this stream now, so the capture waits for nothing outside it
            orderGraphTensorsOnStream();
            stepGraph.arrive(step, DeviceStepGraph.Point.PREPARED, timeout);
            if (index == 0) stepGraph.begin(stream);
            stepGraph.arrive(step, DeviceStepGraph.Point.BEGUN, timeout);
            if (index != 0) context.api().waitEvent(stream, stepGraph.fork()); // the fork: this stream joins the capture
            Tensor[] lo = enqueueShardStep(c, weight);
            applyReduced(step);
            graphLoss = lo[0];
            graphOut = lo[1];
            if (index != 0) context.api().record(stepGraph.join(index), stream);
            joined = true;
            stepGraph.arrive(step, DeviceStepGraph.Point.JOINED, timeout);
            if (index == 0) stepGraph.end(stream, spec.faults());
            stepGraph.arrive(step, DeviceStepGraph.Point.ENDED, timeout);
        } catch (Exception | Error e) {
            stepGraph.fail(index, e);
            if (!joined) stepGraph.arriveAfterFailure(step, DeviceStepGraph.Point.JOINED);
            if (index == 0) stepGraph.abort(step, stream, timeout);
            graphLoss = null;
            graphOut = null;
            throw new DeviceStepGraph.CaptureFailedException(index, e);
        }
    }

    /** One replay of the replicas' step: after every replica's shard is in the graph's buffers; this stream then waits for it. */
    private void replayStep(ReplicaCommand.Compute c) throws Exception {
        long step = c.step();
        try {
            // what the graph reads and writes, ordered on this stream first (a read-back on the copy stream since the last
            // replay, an lr written from elsewhere): the origin waits for this stream's loaded event before it replays
            orderGraphTensorsOnStream();
            if (index != 0) context.api().record(stepGraph.loaded(index), stream);
            stepGraph.arrive(step, DeviceStepGraph.Point.LOADED, spec.reduceTimeout());
            if (index == 0) stepGraph.launch(stream);
            stepGraph.arrive(step, DeviceStepGraph.Point.LAUNCHED, spec.reduceTimeout());
            if (index != 0) context.api().waitEvent(stream, stepGraph.launched());
            // what the replay wrote, as last used on this stream (a read-back since may have left it on the copy stream, which
            // the replay does not order): the next read-back or eager op then waits for the replay
            DeviceTensors.buffer(graphLoss, stream);
            DeviceTensors.buffer(graphOut, stream);
            orderGraphTensorsOnStream(); // a checkpoint reads the step counts back too
        } catch (Exception | Error e) {
            stepGraph.fail(index, e);
            throw e;
        }
    }

    /** The model's state, its gradients and the optimizer's device state (lr, step counts, moments), ordered on (and marked as last used on) this replica's stream. */
    private void orderGraphTensorsOnStream() {
        for (Tensor t : model.stateDict().values()) DeviceTensors.buffer(t, stream);
        for (Tensor p : model.parameters()) if (p.grad() != null) DeviceTensors.buffer(p.grad(), stream);
        for (Tensor t : optimizer.stateTensors()) DeviceTensors.buffer(t, stream);
    }

    /** Waits until each bucket's sum is enqueued, writes it back as the gradients on this stream, and steps the optimizer. */
    private void applyReduced(long step) throws Exception {
        DeviceGroupAllReduce group = (DeviceGroupAllReduce) allReduce;
        for (int b = 0; b < buckets.count(); b++) {
            group.awaitReduced(step, b, spec.reduceTimeout());
            deviceBuckets.unflatten(b);
        }
        optimizer.step();
    }

    /** Offers a bucket: its flat gradients, or in the reproducible mode its sample-tree pieces. */
    private void offer(ReplicaCommand.Compute c, int bucket, Reproducible.Scope repro) {
        if (deviceBuckets != null) { // on a device: summed there, or through the host where the replicas' devices call for it
            Tensor mine = deviceBuckets.flatten(bucket);
            if (allReduce instanceof DeviceGroupAllReduce group) group.contribute(c.step(), index, bucket, mine, deviceBuckets.sum(bucket));
            else allReduce.contribute(c.step(), index, bucket, deviceBuckets.download(bucket));
            return;
        }
        if (repro == null) allReduce.contribute(c.step(), index, bucket, buckets.flatten(bucket));
        else allReduce.contributePieces(c.step(), index, bucket, c.place().batch(), repro.shard().blocks(), buckets.pieces(bucket, repro.shard()));
    }

    private Behavior<ReplicaCommand> onApply(ReplicaCommand.Apply a) {
        try {
            long t0 = System.nanoTime(), t1 = t0, t2 = t0;
            if (graphStep) { // the graph updated the parameters within the step: only report
                graphStep = false;
            } else {
                for (int b = 0; b < buckets.count(); b++) {
                    if (deviceBuckets == null) {
                        buckets.unflatten(b, allReduce.result(a.step(), b, spec.reduceTimeout()));
                        continue;
                    }
                    if (allReduce instanceof DeviceGroupAllReduce group) group.awaitReduced(a.step(), b, spec.reduceTimeout());
                    else deviceBuckets.upload(b, allReduce.result(a.step(), b, spec.reduceTimeout()));
                    deviceBuckets.unflatten(b);
                }
                t1 = System.nanoTime();
                optimizer.step();
                t2 = System.nanoTime();
                if (tracing) { // the warm-up's requests, the update's included: the graph's pool sets a block aside for each
                    tracing = false;
                    stepGraph.putTrace(stream, context.allocator().stopTrace(stream));
                }
            }
            spec.faults().afterApply(index, a.step(), model);
            long checksum = a.checksum() ? ParameterChecksum.of(model.parameters()) : 0L;
            a.replyTo().tell(new ReplicaReply.Applied(a.step(), index, checksum, t1 - t0, t2 - t1));
        } catch (Throwable e) {
            a.replyTo().tell(new ReplicaReply.ShardFailed(a.step(), index, e, false));
        }
        return this;
    }

    private Behavior<ReplicaCommand> onTakeSnapshot(ReplicaCommand.TakeSnapshot t) {
        Map<String, Tensor> state = new LinkedHashMap<>();
        model.stateDict().forEach((k, v) -> state.put(k, hostCopy(v)));
        Map<String, Tensor> optimizerState = new LinkedHashMap<>();
        optimizer.stateDict().forEach((k, v) -> optimizerState.put(k, hostCopy(v)));
        t.replyTo().tell(new ReplicaReply.SnapshotTaken(index, new Snapshot(state, optimizerState)));
        return this;
    }

    private Behavior<ReplicaCommand> onRestore(ReplicaCommand.Restore r) {
        try {
            // new optimizer state tensors: a graph captured before would update the old ones; it is captured anew
            if (stepGraph != null) stepGraph.invalidate(context.replicaStream(0));
            if (tracing) { // a warm-up that failed before its Apply: its trace is dropped, the next full batch warms up again
                tracing = false;
                context.allocator().stopTrace(stream);
            }
            if (r.restart()) build();
            model.loadStateDict(r.snapshot().model());
            optimizer.loadStateDict(r.snapshot().optimizer());
            r.replyTo().tell(new ReplicaReply.Restored(index, null));
        } catch (Throwable e) {
            r.replyTo().tell(new ReplicaReply.Restored(index, e));
        }
        return this;
    }
}
