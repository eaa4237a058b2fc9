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
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.Module;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.tensor.Backends;
import dev.phalanx.tensor.Tensor;

/**
 * One model copy on one device, on its own pinned thread, with its own autograd tape, CPU
 * backend and optimizer state. For a training step it computes its shard (loss weighted by
 * rows/B), offers each gradient bucket to the all-reduce as soon as backward completes it,
 * and on {@link ReplicaCommand.Apply} copies the reduced gradients back and steps its optimizer.
 */
public final class Replica extends AbstractBehavior<ReplicaCommand> {

    /** Copies of a replica's model state dict and optimizer state. */
    public record Snapshot(Map<String, Tensor> model, Map<String, Tensor> optimizer) { }

    private final int index;
    private final Device device;
    private final ReplicaSpec spec;
    private final AllReduce allReduce;
    private final CpuBackend backend;
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
        build();
    }

    private void build() {
        model = spec.model().get();
        model.to(device);
        optimizer = spec.optimizer().apply(model.parameters());
        buckets = new GradientBuckets(model.parameters(), spec.bucketCapFloats());
    }

    @Override
    public Receive<ReplicaCommand> createReceive() {
        // the backend is bound per message: correct on whatever thread the dispatcher gives us
        return newReceiveBuilder()
                .onMessage(ReplicaCommand.Compute.class, m -> onBackend(() -> onCompute(m)))
                .onMessage(ReplicaCommand.Apply.class, m -> onBackend(() -> onApply(m)))
                .onMessage(ReplicaCommand.TakeSnapshot.class, this::onTakeSnapshot)
                .onMessage(ReplicaCommand.Restore.class, this::onRestore)
                .onSignal(PostStop.class, s -> {
                    backend.close();
                    return this;
                })
                .build();
    }

    private Behavior<ReplicaCommand> onBackend(java.util.function.Supplier<Behavior<ReplicaCommand>> handler) {
        try (var scope = Backends.use(backend)) {
            return handler.get();
        }
    }

    private Behavior<ReplicaCommand> onCompute(ReplicaCommand.Compute c) {
        long t0 = System.nanoTime();
        try {
            if (!c.train()) {
                try (var scope = GradMode.noGrad()) {
                    Tensor out = model.forward(c.inputs().narrow(0, c.range().begin(), c.range().rows()));
                    c.replyTo().tell(new ReplicaReply.ShardComputed(c.step(), index, 0f, null, out, System.nanoTime() - t0));
                }
                return this;
            }
            spec.faults().beforeCompute(index, c.step());
            model.train();
            model.zeroGrad();
            if (c.range().rows() == 0) { // more replicas than shards: contribute zeros, still step
                for (int b = 0; b < buckets.count(); b++) {
                    if (spec.reproducible()) allReduce.contributePieces(c.step(), index, b, c.place().batch(), List.of(), List.of()); // no rows, no pieces
                    else allReduce.contribute(c.step(), index, b, new float[buckets.size(b)]);
                }
                c.replyTo().tell(new ReplicaReply.ShardComputed(c.step(), index, 0f, null, null, System.nanoTime() - t0));
                return this;
            }
            Tensor x = c.inputs().narrow(0, c.range().begin(), c.range().rows());
            Tensor y = c.labels().narrow(0, c.range().begin(), c.range().rows());
            // reproducible mode (#13): the ops work sample by sample and sum gradients along the sample tree, whose
            // leaves are the samples' indices in the global batch (a cluster node holds a part of it)
            try (var repro = spec.reproducible() ? Reproducible.bind(c.place().offset() + c.range().begin(), c.range().rows(), c.place().batch()) : null) {
                Tensor out = model.forward(x);
                Tensor loss = spec.loss().apply(out, y);
                // default mode: weighted by rows/B, so the sum over replicas is the gradient of the whole batch's mean
                // loss; reproducible mode: the loss already scales each sample by 1/B of the global batch
                if (repro == null) loss = loss.mul(c.range().rows() / (float) c.batch());
                int[] ready = new int[buckets.count()];
                boolean[] sent = new boolean[buckets.count()];
                Backward.run(loss, null, leaf -> {
                    int b = buckets.bucketOf(leaf);
                    if (b >= 0 && ++ready[b] == buckets.params(b).size()) {
                        offer(c, b, repro);
                        sent[b] = true;
                    }
                });
                for (int b = 0; b < buckets.count(); b++) {
                    if (!sent[b]) offer(c, b, repro); // parameters the loss did not use
                }
                c.replyTo().tell(new ReplicaReply.ShardComputed(c.step(), index, loss.item(),
                        repro == null ? null : repro.shard().loss(), out.detach(), System.nanoTime() - t0));
            }
        } catch (Throwable e) {
            allReduce.withdraw(c.step(), index);
            c.replyTo().tell(new ReplicaReply.ShardFailed(c.step(), index, e, true));
        }
        return this;
    }

    /** Offers a bucket: its flat gradients, or in the reproducible mode its sample-tree pieces. */
    private void offer(ReplicaCommand.Compute c, int bucket, Reproducible.Scope repro) {
        if (repro == null) allReduce.contribute(c.step(), index, bucket, buckets.flatten(bucket));
        else allReduce.contributePieces(c.step(), index, bucket, c.place().batch(), repro.shard().blocks(), buckets.pieces(bucket, repro.shard()));
    }

    private Behavior<ReplicaCommand> onApply(ReplicaCommand.Apply a) {
        try {
            long t0 = System.nanoTime();
            for (int b = 0; b < buckets.count(); b++) buckets.unflatten(b, allReduce.result(a.step(), b, spec.reduceTimeout()));
            long t1 = System.nanoTime();
            optimizer.step();
            long t2 = System.nanoTime();
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
        model.stateDict().forEach((k, v) -> state.put(k, v.detach().clone()));
        t.replyTo().tell(new ReplicaReply.SnapshotTaken(index, new Snapshot(state, optimizer.stateDict())));
        return this;
    }

    private Behavior<ReplicaCommand> onRestore(ReplicaCommand.Restore r) {
        try {
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
