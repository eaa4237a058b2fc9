package dev.phalanx.parallel;

import java.util.List;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;

/**
 * A short-lived child of the coordinator that moves whole replica states: it collects every
 * replica's snapshot, or loads one state into every replica, answers, reports
 * {@code WorkDone} to the coordinator and stops. Its behaviours: {@link #collecting} and
 * {@link #loading}.
 */
final class StateGather {

    private StateGather() { }

    /** Every replica's model and optimizer state, in replica order, to {@code replyTo}. */
    static Behavior<ReplicaReply> snapshots(List<ActorRef<ReplicaCommand>> replicas, ActorRef<Coordinator.StatesOutcome> replyTo,
                                            ActorRef<Coordinator.Command> parent) {
        return Behaviors.setup(ctx -> {
            for (ActorRef<ReplicaCommand> r : replicas) r.tell(new ReplicaCommand.TakeSnapshot(ctx.getSelf()));
            return collecting(new Replica.Snapshot[replicas.size()], replicas.size(), all -> {
                replyTo.tell(new Coordinator.StatesOutcome(List.of(all), null));
                parent.tell(new Coordinator.WorkDone(null));
                return Behaviors.stopped();
            });
        });
    }

    /** One state into every replica (resuming from a checkpoint); the first error, if any, to {@code replyTo}. */
    static Behavior<ReplicaReply> load(List<ActorRef<ReplicaCommand>> replicas, Replica.Snapshot state,
                                       ActorRef<Coordinator.StatesOutcome> replyTo, ActorRef<Coordinator.Command> parent) {
        return Behaviors.setup(ctx -> {
            for (ActorRef<ReplicaCommand> r : replicas) r.tell(new ReplicaCommand.Restore(state, false, ctx.getSelf()));
            return loading(replicas.size(), null, -1, (error, replica) -> {
                replyTo.tell(new Coordinator.StatesOutcome(null, error));
                parent.tell(new Coordinator.WorkDone(null));
                return Behaviors.stopped();
            });
        });
    }

    /**
     * The first parameters: {@code initial} into every replica, or (null) replica 0's into the
     * others. A replica that cannot load them leaves the runtime unusable.
     */
    static Behavior<ReplicaReply> initial(List<ActorRef<ReplicaCommand>> replicas, Replica.Snapshot initial,
                                          ActorRef<Coordinator.Command> parent) {
        Loaded done = (error, replica) -> {
            parent.tell(new Coordinator.WorkDone(error == null ? null
                    : "replica " + replica + " could not load the initial parameters: " + error));
            return Behaviors.stopped();
        };
        return Behaviors.setup(ctx -> {
            if (initial != null) {
                for (ActorRef<ReplicaCommand> r : replicas) r.tell(new ReplicaCommand.Restore(initial, false, ctx.getSelf()));
                return loading(replicas.size(), null, -1, done);
            }
            replicas.get(0).tell(new ReplicaCommand.TakeSnapshot(ctx.getSelf()));
            return collecting(new Replica.Snapshot[1], 1, first -> {
                for (ActorRef<ReplicaCommand> r : replicas.subList(1, replicas.size())) {
                    r.tell(new ReplicaCommand.Restore(first[0], false, ctx.getSelf()));
                }
                return loading(replicas.size() - 1, null, -1, done);
            });
        });
    }

    /** What to do with all snapshots once they are in. */
    private interface Collected {
        Behavior<ReplicaReply> apply(Replica.Snapshot[] all);
    }

    /** What to do once every load has answered: the first error (null: none) and its replica. */
    private interface Loaded {
        Behavior<ReplicaReply> apply(Throwable error, int replica);
    }

    private static Behavior<ReplicaReply> collecting(Replica.Snapshot[] got, int pending, Collected then) {
        return Behaviors.receive(ReplicaReply.class)
                .onMessage(ReplicaReply.SnapshotTaken.class, m -> {
                    got[m.replica()] = m.snapshot();
                    return pending == 1 ? then.apply(got) : collecting(got, pending - 1, then);
                })
                .build();
    }

    private static Behavior<ReplicaReply> loading(int pending, Throwable firstError, int failed, Loaded then) {
        return Behaviors.receive(ReplicaReply.class)
                .onMessage(ReplicaReply.Restored.class, m -> {
                    Throwable error = firstError != null ? firstError : m.error();
                    int who = firstError != null ? failed : m.replica();
                    return pending == 1 ? then.apply(error, who) : loading(pending - 1, error, who, then);
                })
                .build();
    }
}
