package dev.phalanx.parallel;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.BiFunction;
import java.util.function.Function;
import java.util.function.Supplier;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Scheduler;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AskPattern;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;

import dev.phalanx.kernels.Device;
import dev.phalanx.kernels.cpu.CpuBackend;
import dev.phalanx.nn.F;
import dev.phalanx.nn.Module;
import dev.phalanx.optim.Optimizer;
import dev.phalanx.optim.SGD;
import dev.phalanx.tensor.Tensor;

/**
 * Data parallelism for users who never touch actors: PyTorch's {@code nn.DataParallel}, plus a
 * trainer. It owns an actor system with one coordinator and one replica per device; close it
 * to stop every actor and thread it started.
 * <pre>{@code
 * try (DataParallel dp = DataParallel.builder(() -> LeNet.cifar(new Generator(0)))
 *         .replicas(2).optimizer(p -> new SGD(p, 0.001f, 0.9f)).build()) {
 *     float loss = dp.step(images, labels).toCompletableFuture().join();
 *     Tensor logits = dp.forward(images);
 * }
 * }</pre>
 * For Pekko users, {@link #behavior} is the coordinator to spawn in their own ActorSystem.
 */
public final class DataParallel implements AutoCloseable {

    private final ActorSystem<Coordinator.Command> system; // null when attached to a coordinator spawned by the caller
    private final ActorRef<Coordinator.Command> coordinator;
    private final Scheduler scheduler;
    private final List<Device> devices;
    private final AllReduce allReduce;
    private final Duration askTimeout;
    private volatile boolean closed;
    /** Every reply not yet received: close() fails them at once rather than leave their callers waiting. */
    private final java.util.Set<CompletableFuture<?>> pending = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private DataParallel(ReplicaSpec spec, Coordinator.Settings settings, AllReduce allReduce) {
        this.devices = settings.devices();
        // the coordinator fails a step itself at its timeout; the ask only guards against a lost actor system
        this.askTimeout = settings.stepTimeout().multipliedBy(3).plusSeconds(5);
        Config config = ConfigFactory.parseString("pekko.loglevel = WARNING\npekko.log-dead-letters = off\n"
                + "pekko.log-dead-letters-during-shutdown = off\npekko.coordinated-shutdown.run-by-jvm-shutdown-hook = off")
                .withFallback(ConfigFactory.load());
        Logging.silenceWithoutBackend();
        // this runtime's own all-reduce, unless the caller gave one; a device group's events (or NCCL communicators) go at close
        this.allReduce = allReduce != null ? allReduce : Coordinator.allReduceFor(settings.devices());
        this.system = ActorSystem.create(Coordinator.create(spec, settings, this.allReduce), "phalanx", config);
        this.coordinator = system;
        this.scheduler = system.scheduler();
    }

    private DataParallel(ActorRef<Coordinator.Command> coordinator, Scheduler scheduler, Coordinator.Settings settings) {
        this.devices = settings.devices();
        this.askTimeout = settings.stepTimeout().multipliedBy(3).plusSeconds(5);
        this.allReduce = null;
        this.system = null;
        this.coordinator = coordinator;
        this.scheduler = scheduler;
    }

    /**
     * The same API over a coordinator the caller spawned from {@link #behavior} in its own
     * ActorSystem (an embedding service). {@link #close} then only refuses further calls: the
     * caller stops the coordinator as it stops any child actor, and that stops its replicas.
     */
    public static DataParallel attach(ActorRef<Coordinator.Command> coordinator, Scheduler scheduler, Coordinator.Settings settings) {
        return new DataParallel(coordinator, scheduler, settings);
    }

    /** The coordinator's behavior, to spawn inside an existing ActorSystem. */
    public static Behavior<Coordinator.Command> behavior(ReplicaSpec spec, Coordinator.Settings settings) {
        return Coordinator.create(spec, settings);
    }

    /** {@code nn.DataParallel(model)} over {@code replicas} CPU replicas, for forward passes. */
    public static DataParallel wrap(Supplier<? extends Module> model, int replicas) {
        return builder(model).replicas(replicas).build();
    }

    public static Builder builder(Supplier<? extends Module> model) {
        return new Builder(model);
    }

    public List<Device> devices() {
        return devices;
    }

    public int replicas() {
        return devices.size();
    }

    /** How many steps were replays of the replicas' captured step (0 without a graph). */
    int graphReplays() {
        return allReduce instanceof DeviceGroupAllReduce group && group.stepGraphIfMade() != null ? group.stepGraphIfMade().replays() : 0;
    }

    /** Whether the replicas' CUDA graph is on, or why not (null when it was never asked for or no step ran yet). */
    public String graphState() {
        return allReduce instanceof DeviceGroupAllReduce group && group.stepGraphIfMade() != null ? group.stepGraphIfMade().state() : null;
    }

    /** Where the replicas' gradients are summed, for the start-up line. */
    public String reduction() {
        if (allReduce instanceof DeviceGroupAllReduce group) return group.describe();
        boolean onDevices = devices.stream().anyMatch(d -> !d.isCpu());
        return onDevices ? "summed in host memory (each replica's buckets copied down and back)" : "summed in host memory";
    }

    /** Scatter along dimension 0, run every shard, gather in shard order: like {@code nn.DataParallel(model)(x)}. */
    public Tensor forward(Tensor inputs) {
        return await(outcome(inputs, null, false)).outputs();
    }

    /** One training step; completes with the mean loss over the whole batch. */
    public CompletionStage<Float> step(Tensor inputs, Tensor labels) {
        return outcome(inputs, labels, true).thenApply(Coordinator.StepOutcome::loss);
    }

    /** One training step; completes with the loss and the gathered outputs (the step's logits). */
    public CompletionStage<Coordinator.StepOutcome> stepWithOutputs(Tensor inputs, Tensor labels) {
        return outcome(inputs, labels, true);
    }

    /**
     * One training step on rows that lie at {@code place} in a larger global batch (cluster mode:
     * this node's part of it); the reproducible mode sums along the global batch's sample tree.
     */
    public CompletionStage<Coordinator.StepOutcome> stepWithOutputs(Tensor inputs, Tensor labels, Coordinator.GlobalRows place) {
        return outcome(inputs, labels, place, true);
    }

    private CompletionStage<Coordinator.StepOutcome> outcome(Tensor inputs, Tensor labels, boolean train) {
        return outcome(inputs, labels, null, train);
    }

    private CompletionStage<Coordinator.StepOutcome> outcome(Tensor inputs, Tensor labels, Coordinator.GlobalRows place, boolean train) {
        if (closed) return UserFuture.failed(new IllegalStateException("this DataParallel runtime is closed"));
        CompletionStage<Coordinator.StepOutcome> reply = tracked(AskPattern.ask(coordinator,
                (org.apache.pekko.actor.typed.ActorRef<Coordinator.StepOutcome> replyTo) -> train
                        ? new Coordinator.TrainStep(inputs, labels, place, replyTo)
                        : new Coordinator.Forward(inputs, replyTo),
                askTimeout, scheduler));
        return reply.thenCompose(o -> o.ok() ? CompletableFuture.completedFuture(o) : CompletableFuture.failedFuture(o.error()));
    }

    /** Copies of every replica's model state dict, in replica order. */
    public List<Map<String, Tensor>> replicaStates() {
        List<Replica.Snapshot> snaps = await(states());
        List<Map<String, Tensor>> out = new ArrayList<>();
        for (Replica.Snapshot s : snaps) out.add(s.model());
        return Collections.unmodifiableList(out);
    }

    /** Replica 0's model and optimizer state (every replica holds the same). */
    public Replica.Snapshot snapshot() {
        return await(states()).get(0);
    }

    /** A copy of replica 0's model state dict. */
    public Map<String, Tensor> stateDict() {
        return snapshot().model();
    }

    /** Loads one model and optimizer state into every replica (resuming from a checkpoint). */
    public void load(Replica.Snapshot state) {
        if (closed) throw new IllegalStateException("this DataParallel runtime is closed");
        await(tracked(AskPattern.<Coordinator.Command, Coordinator.StatesOutcome>ask(coordinator, r -> new Coordinator.LoadState(state, r), askTimeout,
                scheduler)).thenCompose(o -> o.error() == null ? CompletableFuture.completedFuture(o) : CompletableFuture.failedFuture(o.error())));
    }

    private CompletionStage<List<Replica.Snapshot>> states() {
        if (closed) return CompletableFuture.failedFuture(new IllegalStateException("this DataParallel runtime is closed"));
        return tracked(AskPattern.<Coordinator.Command, Coordinator.StatesOutcome>ask(coordinator, Coordinator.GetStates::new, askTimeout, scheduler))
                .thenCompose(o -> o.error() == null ? CompletableFuture.completedFuture(o.states()) : CompletableFuture.failedFuture(o.error()));
    }

    /** A future of the reply that close() can fail; it completes with the reply when that comes first. */
    private <T> CompletableFuture<T> tracked(CompletionStage<T> ask) {
        CompletableFuture<T> f = new UserFuture<>();
        pending.add(f);
        f.whenComplete((v, e) -> pending.remove(f));
        ask.whenComplete((v, e) -> {
            if (e != null) f.completeExceptionally(e);
            else f.complete(v);
        });
        if (closed) failPending(); // close() ran between the check and the add
        return f;
    }

    /**
     * The futures DataParallel hands out (and every stage derived from them): {@code join()}
     * throws the step's own exception (the user's {@code IllegalArgumentException}, a
     * {@code ReplicaFailedException}, ...) rather than a {@code CompletionException} around it.
     */
    static final class UserFuture<T> extends CompletableFuture<T> {
        static <T> UserFuture<T> failed(Throwable error) {
            UserFuture<T> f = new UserFuture<>();
            f.completeExceptionally(error);
            return f;
        }

        @Override
        public <U> CompletableFuture<U> newIncompleteFuture() {
            return new UserFuture<>();
        }

        @Override
        public T join() {
            try {
                return super.join();
            } catch (java.util.concurrent.CompletionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof RuntimeException re) throw re;
                if (cause instanceof Error error) throw error;
                throw e;
            }
        }
    }

    private void failPending() {
        for (CompletableFuture<?> f : List.copyOf(pending)) {
            f.completeExceptionally(new IllegalStateException("this DataParallel runtime was closed while the call was pending"));
        }
    }

    private static <T> T await(CompletionStage<T> stage) {
        try {
            return stage.toCompletableFuture().get();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new IllegalStateException(e.getCause().getMessage(), e.getCause());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the replicas", e);
        }
    }

    /**
     * Fails every pending step, forward and state request at once with a "closed" error, then
     * stops the coordinator, the replicas, their threads and the actor system, and waits for it
     * (30 s at most; attached: see {@link #attach}).
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        failPending();
        if (system == null) return;
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("the data-parallel runtime did not stop within 30 s", e);
        }
        if (allReduce instanceof DeviceGroupAllReduce group) {
            // every replica has stopped, so nothing enqueues on the group's events now; the work already enqueued finishes first
            for (int i = 0; i < devices.size(); i++) {
                dev.phalanx.kernels.DeviceContext c = dev.phalanx.kernels.DeviceContexts.ifOpen(devices.get(i));
                if (c != null) c.api().synchronize(c.replicaStream(i));
            }
            group.close();
        }
    }

    /** Settings with PyTorch-like defaults: cross entropy, SGD(lr 0.01), one CPU thread per replica. */
    public static final class Builder {
        private final Supplier<? extends Module> model;
        private List<Device> devices = List.of(Device.CPU);
        private Function<List<Tensor>, ? extends Optimizer> optimizer = p -> new SGD(p, 0.01f);
        private BiFunction<Tensor, Tensor, Tensor> loss = F::crossEntropy;
        private int threads = 1;
        private CpuBackend.Kernels kernels = CpuBackend.Kernels.AUTO;
        private int bucketCapFloats = 1 << 15;
        private AllReduce allReduce;
        private Duration stepTimeout = Duration.ofSeconds(60);
        private int checksumEvery = 100;
        private ReplicaFaults faults = ReplicaFaults.NONE;
        private Replica.Snapshot initial;
        private boolean reproducible;
        private boolean cudaGraph;

        private Builder(Supplier<? extends Module> model) {
            this.model = model;
        }

        /** {@code n} replicas on the CPU. */
        public Builder replicas(int n) {
            if (n < 1) throw new IllegalArgumentException("replicas must be >= 1, got " + n);
            devices = Collections.nCopies(n, Device.CPU);
            return this;
        }

        /**
         * One replica per entry, on that device: {@code cpu}, {@code cuda:N} or {@code sim:N}; a device
         * may be named more than once (several replicas on one GPU, each on its own stream).
         */
        public Builder devices(List<Device> devices) {
            if (devices.isEmpty()) throw new IllegalArgumentException("need at least one replica device");
            this.devices = List.copyOf(devices);
            return this;
        }

        public Builder optimizer(Function<List<Tensor>, ? extends Optimizer> optimizer) {
            this.optimizer = optimizer;
            return this;
        }

        /** The loss over the rows a replica gets, a mean (each replica's is weighted by rows/B). */
        public Builder loss(BiFunction<Tensor, Tensor, Tensor> loss) {
            this.loss = loss;
            return this;
        }

        public Builder threadsPerReplica(int threads) {
            this.threads = threads;
            return this;
        }

        public Builder kernels(CpuBackend.Kernels kernels) {
            this.kernels = kernels;
            return this;
        }

        public Builder bucketCapFloats(int cap) {
            this.bucketCapFloats = cap;
            return this;
        }

        public Builder stepTimeout(Duration timeout) {
            this.stepTimeout = timeout;
            return this;
        }

        /** Compare replicas' parameter checksums every k steps (0: never). */
        public Builder checksumEvery(int k) {
            this.checksumEvery = k;
            return this;
        }

        /**
         * The parameters (a model's state dict) every replica starts from, as
         * {@code nn.DataParallel(model)} starts from {@code model}'s. Without it, replica 0's
         * parameters, from the factory, are broadcast to the others.
         */
        public Builder initialState(Map<String, Tensor> modelState) {
            Map<String, Tensor> copy = new java.util.LinkedHashMap<>();
            modelState.forEach((k, v) -> copy.put(k, v.detach().clone()));
            this.initial = new Replica.Snapshot(copy, Map.of());
            return this;
        }

        /**
         * The reproducible mode (issue #13): samples computed one by one and gradients summed in
         * one fixed tree over the global batch, so every replica count ends with the bits of 1.
         */
        public Builder reproducible(boolean on) {
            this.reproducible = on;
            return this;
        }

        /**
         * Replicas that all share one device capture their whole training step (each replica's
         * forward and backward on its stream, the device-side sum in replica order, the update)
         * into one CUDA graph across their streams and replay it for every full batch
         * ({@link DeviceStepGraph}); off by default. Elsewhere (the cpu, several devices, an optimizer
         * or model a replay cannot repeat) the steps run eagerly, as without it.
         */
        public Builder cudaGraph(boolean on) {
            this.cudaGraph = on;
            return this;
        }

        public Builder faults(ReplicaFaults faults) {
            this.faults = faults;
            return this;
        }

        public ReplicaSpec spec() {
            return new ReplicaSpec(model, optimizer, loss, threads, kernels, bucketCapFloats, stepTimeout, faults, reproducible, cudaGraph);
        }

        public Coordinator.Settings settings() {
            return new Coordinator.Settings(devices, stepTimeout, checksumEvery, initial);
        }

        /** How the replicas' gradients are summed (default: in host memory, within this JVM); cluster mode sums across nodes. */
        public Builder allReduce(AllReduce allReduce) {
            this.allReduce = allReduce;
            return this;
        }

        public DataParallel build() {
            if (reproducible) {
                for (Device d : devices) {
                    if (!d.isCpu()) {
                        throw new IllegalArgumentException("the reproducible mode runs on the cpu only (its sample-by-sample kernels have no "
                                + d + " version); replica device " + d + ": use cpu, or the default mode");
                    }
                }
            }
            return new DataParallel(spec(), settings(), allReduce);
        }
    }
}
