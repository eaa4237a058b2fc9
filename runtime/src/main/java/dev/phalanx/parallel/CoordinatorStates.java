package dev.phalanx.parallel;

import java.util.ArrayList;
import java.util.List;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.Terminated;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.StashBuffer;

import dev.phalanx.kernels.Device;

/**
 * The coordinator's behaviours, one per state:
 * <ul>
 * <li>{@link #starting}: the replicas receive their first parameters; requests wait;</li>
 * <li>{@link #ready}: a request starts a child that does the work ({@link StepRun} for a step
 * or forward, {@link StateGather} for snapshots and loads);</li>
 * <li>{@link #busy}: that child is at work; requests wait until it reports {@code WorkDone};</li>
 * <li>{@link #stopped}: a replica stopped answering; every request is refused with the reason.</li>
 * </ul>
 * The replicas are children of the coordinator and watched by it: one that stops ends the
 * runtime, as its thread is gone.
 */
final class CoordinatorStates {

    /** Requests that may wait while a step runs; more is a caller that does not await its steps. */
    static final int STASH_CAPACITY = 10_000;

    private final ActorContext<Coordinator.Command> ctx;
    private final StashBuffer<Coordinator.Command> stash;
    private final Coordinator.Settings settings;
    private final AllReduce allReduce;
    private final List<ActorRef<ReplicaCommand>> replicas = new ArrayList<>();
    private long nextStep = 1;

    static Behavior<Coordinator.Command> create(ReplicaSpec spec, Coordinator.Settings settings, AllReduce allReduce) {
        return Behaviors.withStash(STASH_CAPACITY, stash -> Behaviors.setup(ctx ->
                new CoordinatorStates(ctx, stash, settings, allReduce).starting(spec)));
    }

    private CoordinatorStates(ActorContext<Coordinator.Command> ctx, StashBuffer<Coordinator.Command> stash,
                              Coordinator.Settings settings, AllReduce allReduce) {
        this.ctx = ctx;
        this.stash = stash;
        this.settings = settings;
        this.allReduce = allReduce;
    }

    private Behavior<Coordinator.Command> starting(ReplicaSpec spec) {
        List<Device> devices = settings.devices();
        for (int i = 0; i < devices.size(); i++) {
            ActorRef<ReplicaCommand> r = ctx.spawn(Replica.create(i, devices.get(i), spec, allReduce), "replica-" + i,
                    DispatcherSelector.fromConfig(Coordinator.REPLICA_DISPATCHER));
            ctx.watch(r);
            replicas.add(r);
        }
        if (settings.initial() == null && replicas.size() == 1) return ready();
        ctx.spawn(StateGather.initial(replicas, settings.initial(), ctx.getSelf()), "initial-state");
        return Behaviors.receive(Coordinator.Command.class)
                .onMessage(Coordinator.WorkDone.class, m -> m.fatal() == null ? unstashInto(ready()) : stopped(m.fatal()))
                .onMessage(Coordinator.Command.class, this::waitForIt)
                .onSignal(Terminated.class, t -> stopped(replicaStopped(t)))
                .build();
    }

    private Behavior<Coordinator.Command> ready() {
        return Behaviors.receive(Coordinator.Command.class)
                .onMessage(Coordinator.TrainStep.class, m -> step(true, m.inputs(), m.labels(), m.place(), m.replyTo()))
                .onMessage(Coordinator.Forward.class, m -> step(false, m.inputs(), null, null, m.replyTo()))
                .onMessage(Coordinator.GetStates.class, m -> busy(ctx.spawnAnonymous(StateGather.snapshots(replicas, m.replyTo(), ctx.getSelf())),
                        e -> m.replyTo().tell(new Coordinator.StatesOutcome(null, e))))
                .onMessage(Coordinator.LoadState.class, m -> busy(ctx.spawnAnonymous(StateGather.load(replicas, m.state(), m.replyTo(), ctx.getSelf())),
                        e -> m.replyTo().tell(new Coordinator.StatesOutcome(null, e))))
                .onMessage(Coordinator.WorkDone.class, m -> Behaviors.same())
                .onSignal(Terminated.class, t -> stopped(replicaStopped(t)))
                .build();
    }

    /** Starts a step or a forward in a child of its own; bad input (no rows, labels that do not match) is answered at once. */
    private Behavior<Coordinator.Command> step(boolean train, dev.phalanx.tensor.Tensor inputs, dev.phalanx.tensor.Tensor labels,
                                               Coordinator.GlobalRows place, ActorRef<Coordinator.StepOutcome> replyTo) {
        long id = nextStep++;
        StepRun.Plan plan;
        try {
            plan = StepRun.Plan.of(id, train, inputs, labels, place);
        } catch (RuntimeException e) {
            replyTo.tell(new Coordinator.StepOutcome(0, Float.NaN, null, e));
            return Behaviors.same();
        }
        ActorRef<ReplicaReply> run = ctx.spawn(StepRun.create(plan, replyTo, replicas, settings, allReduce, ctx.getSelf()), "step-" + id);
        return busy(run, e -> replyTo.tell(new Coordinator.StepOutcome(id, Float.NaN, null, e)));
    }

    /** A child is at work; {@code failPending} answers its requester if the runtime breaks meanwhile. */
    private Behavior<Coordinator.Command> busy(ActorRef<ReplicaReply> child, java.util.function.Consumer<Throwable> failPending) {
        return Behaviors.receive(Coordinator.Command.class)
                .onMessage(Coordinator.WorkDone.class, m -> m.fatal() == null ? unstashInto(ready()) : stopped(m.fatal()))
                .onMessage(Coordinator.Command.class, this::waitForIt)
                .onSignal(Terminated.class, t -> {
                    String why = replicaStopped(t);
                    ctx.stop(child);
                    failPending.accept(new IllegalStateException(why));
                    return stopped(why);
                })
                .build();
    }

    /** The runtime can take no more work: everything waiting and everything to come is refused with {@code why}. */
    private Behavior<Coordinator.Command> stopped(String why) {
        Behavior<Coordinator.Command> refusing = Behaviors.receive(Coordinator.Command.class)
                .onMessage(Coordinator.Command.class, m -> {
                    refuse(m, new IllegalStateException("the data-parallel runtime cannot take more work: " + why
                            + "; close it and start a new one"));
                    return Behaviors.same();
                })
                .onSignal(Terminated.class, t -> Behaviors.same())
                .build();
        return unstashInto(refusing); // answers what waited, rather than leaving callers waiting
    }

    private Behavior<Coordinator.Command> waitForIt(Coordinator.Command m) {
        stash.stash(m);
        return Behaviors.same();
    }

    private Behavior<Coordinator.Command> unstashInto(Behavior<Coordinator.Command> next) {
        return stash.unstashAll(next);
    }

    private static void refuse(Coordinator.Command m, RuntimeException e) {
        if (m instanceof Coordinator.TrainStep t) t.replyTo().tell(new Coordinator.StepOutcome(0, Float.NaN, null, e));
        else if (m instanceof Coordinator.Forward f) f.replyTo().tell(new Coordinator.StepOutcome(0, Float.NaN, null, e));
        else if (m instanceof Coordinator.GetStates g) g.replyTo().tell(new Coordinator.StatesOutcome(null, e));
        else if (m instanceof Coordinator.LoadState l) l.replyTo().tell(new Coordinator.StatesOutcome(null, e));
    }

    private static String replicaStopped(Terminated t) {
        return "replica actor " + t.getRef().path().name() + " stopped";
    }
}
