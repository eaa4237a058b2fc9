package dev.phalanx.parallel.cluster;

import java.io.NotSerializableException;

import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializerWithStringManifest;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;

import dev.phalanx.protocol.cluster.DataReady;
import dev.phalanx.protocol.cluster.Finish;
import dev.phalanx.protocol.cluster.JobRecipe;
import dev.phalanx.protocol.cluster.JoinRequest;
import dev.phalanx.protocol.cluster.LoadState;
import dev.phalanx.protocol.cluster.Refused;
import dev.phalanx.protocol.cluster.RingFormed;
import dev.phalanx.protocol.cluster.RingReady;
import dev.phalanx.protocol.cluster.RunStep;
import dev.phalanx.protocol.cluster.StateLoaded;
import dev.phalanx.protocol.cluster.StepReport;

/**
 * Every {@link ClusterMessage} to and from its Protobuf message (schemas in
 * {@code protocol/src/main/proto/cluster.proto}); actor references travel as the strings
 * {@link ActorRefResolver} writes. Bound in {@code cluster-reference.conf}.
 */
public final class ClusterSerializer extends SerializerWithStringManifest {

    /** Pekko's ids 0-40 are its own; any other fixed number works, the same on every node. */
    static final int IDENTIFIER = 7301;

    private final ExtendedActorSystem system;
    private volatile ActorRefResolver resolver;

    public ClusterSerializer(ExtendedActorSystem system) {
        this.system = system;
    }

    private ActorRefResolver resolver() {
        if (resolver == null) resolver = ActorRefResolver.get(Adapter.toTyped(system));
        return resolver;
    }

    @Override
    public int identifier() {
        return IDENTIFIER;
    }

    @Override
    public String manifest(Object o) {
        return o.getClass().getSimpleName();
    }

    @Override
    public byte[] toBinary(Object o) {
        if (o instanceof LeaderCommand.Join m) {
            return JoinRequest.newBuilder().setNode(m.node()).setReplicas(m.replicas()).setDevice(m.device())
                    .setSecretDigest(ByteString.copyFrom(m.secretDigest())).setDataHost(m.dataHost()).setDataPort(m.dataPort()).setNccl(m.nccl())
                    .setActorRef(resolver().toSerializationFormat(m.replyTo())).build().toByteArray();
        }
        if (o instanceof LeaderCommand.DataReady m) {
            return DataReady.newBuilder().setNode(m.node()).setDigest(m.digest()).setError(m.error()).build().toByteArray();
        }
        if (o instanceof LeaderCommand.RingReady m) return RingReady.newBuilder().setNode(m.node()).setGeneration(m.generation()).build().toByteArray();
        if (o instanceof LeaderCommand.StepReport m) {
            return StepReport.newBuilder().setStep(m.step()).setNode(m.node()).setWeightedLoss(m.weightedLoss()).setError(m.error())
                    .setDataBytesSent(m.dataBytesSent()).setRingFailure(m.ringFailure()).build().toByteArray();
        }
        if (o instanceof NodeCommand.JobRecipe m) return JobRecipe.newBuilder().setRecipe(m.recipe()).build().toByteArray();
        if (o instanceof NodeCommand.Refused m) return Refused.newBuilder().setReason(m.reason()).build().toByteArray();
        if (o instanceof NodeCommand.RingFormed m) {
            return RingFormed.newBuilder().setRank(m.rank()).setSize(m.size()).setRightHost(m.rightHost()).setRightPort(m.rightPort()).setGeneration(m.generation())
                    .setNcclUniqueId(ByteString.copyFrom(m.ncclUniqueId())).build().toByteArray();
        }
        if (o instanceof NodeCommand.RunStep m) {
            return RunStep.newBuilder().setStep(m.step()).setEpoch(m.epoch()).setBatch(m.batch()).setBegin(m.begin()).setEnd(m.end())
                    .setBatchSize(m.batchSize()).build().toByteArray();
        }
        if (o instanceof LeaderCommand.StateLoaded m) return StateLoaded.newBuilder().setNode(m.node()).setError(m.error()).build().toByteArray();
        if (o instanceof NodeCommand.LoadState m) return LoadState.newBuilder().setFrames(m.frames()).setBytes(m.bytes()).setId(m.id()).build().toByteArray();
        if (o instanceof NodeCommand.Finish m) return Finish.newBuilder().setReason(m.reason()).build().toByteArray();
        throw new IllegalArgumentException("no Protobuf mapping for " + o.getClass().getName() + ": it must not cross a node boundary");
    }

    @Override
    public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
        try {
            return switch (manifest) {
                case "Join" -> {
                    JoinRequest m = JoinRequest.parseFrom(bytes);
                    ActorRef<NodeCommand> ref = resolver().resolveActorRef(m.getActorRef());
                    yield new LeaderCommand.Join(m.getNode(), m.getReplicas(), m.getDevice(), m.getSecretDigest().toByteArray(), m.getDataHost(),
                            m.getDataPort(), m.getNccl(), ref);
                }
                case "DataReady" -> {
                    DataReady m = DataReady.parseFrom(bytes);
                    yield new LeaderCommand.DataReady(m.getNode(), m.getDigest(), m.getError());
                }
                case "RingReady" -> {
                    RingReady m = RingReady.parseFrom(bytes);
                    yield new LeaderCommand.RingReady(m.getNode(), m.getGeneration());
                }
                case "StepReport" -> {
                    StepReport m = StepReport.parseFrom(bytes);
                    yield new LeaderCommand.StepReport(m.getStep(), m.getNode(), m.getWeightedLoss(), m.getError(), m.getDataBytesSent(), m.getRingFailure());
                }
                case "JobRecipe" -> new NodeCommand.JobRecipe(JobRecipe.parseFrom(bytes).getRecipe());
                case "Refused" -> new NodeCommand.Refused(Refused.parseFrom(bytes).getReason());
                case "RingFormed" -> {
                    RingFormed m = RingFormed.parseFrom(bytes);
                    yield new NodeCommand.RingFormed(m.getRank(), m.getSize(), m.getRightHost(), m.getRightPort(), m.getGeneration(),
                            m.getNcclUniqueId().toByteArray());
                }
                case "RunStep" -> {
                    RunStep m = RunStep.parseFrom(bytes);
                    yield new NodeCommand.RunStep(m.getStep(), m.getEpoch(), m.getBatch(), m.getBegin(), m.getEnd(), m.getBatchSize());
                }
                case "StateLoaded" -> {
                    StateLoaded m = StateLoaded.parseFrom(bytes);
                    yield new LeaderCommand.StateLoaded(m.getNode(), m.getError());
                }
                case "LoadState" -> {
                    LoadState m = LoadState.parseFrom(bytes);
                    yield new NodeCommand.LoadState(m.getFrames(), m.getBytes(), m.getId());
                }
                case "Finish" -> new NodeCommand.Finish(Finish.parseFrom(bytes).getReason());
                default -> throw new NotSerializableException("unknown Phalanx cluster message " + manifest);
            };
        } catch (InvalidProtocolBufferException e) {
            throw new NotSerializableException("a Phalanx cluster message " + manifest + " that does not parse: " + e.getMessage());
        }
    }
}
