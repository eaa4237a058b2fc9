package dev.phalanx.parallel.cluster;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

import dev.phalanx.bench.ModelZoo;
import dev.phalanx.data.DataLoader;
import dev.phalanx.data.Example;
import dev.phalanx.data.ImageDataset;
import dev.phalanx.kernels.Device;
import dev.phalanx.nn.F;
import dev.phalanx.parallel.DataParallel;
import dev.phalanx.parallel.GradientBuckets;
import dev.phalanx.tensor.Generator;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.train.Recipe;
import dev.phalanx.train.Trainer;

/** What every node of a job builds the same way: its replicas, the data set's digest, the rows of a batch. */
final class ClusterJob {

    /** Gradient bucket size, the same on every node (the ring reduces bucket by bucket). */
    static final int BUCKET_CAP_FLOATS = 1 << 15;

    private ClusterJob() { }

    /** How many buckets the recipe's model has. */
    static int bucketCount(Recipe r) {
        return new GradientBuckets(ModelZoo.get(r.model()).build(new Generator(r.seed())).parameters(), BUCKET_CAP_FLOATS).count();
    }

    /**
     * The node's replicas, one on each of {@code devices}, summing through {@code allReduce}. Every
     * node builds the model from the recipe's seed, so every replica in the cluster starts from the
     * same parameters.
     */
    static DataParallel dataParallel(Recipe r, List<Device> devices, ClusterAllReduce allReduce, java.time.Duration stepTimeout) {
        ModelZoo.Spec spec = ModelZoo.get(r.model());
        return DataParallel.builder(() -> spec.build(new Generator(r.seed())))
                .devices(devices).threadsPerReplica(r.threads()).kernels(r.kernels())
                .optimizer(p -> Trainer.optimizer(r, p)).loss(F::crossEntropy)
                .bucketCapFloats(BUCKET_CAP_FLOATS).stepTimeout(stepTimeout).checksumEvery(r.checksumEvery())
                .reproducible(r.reproducible()).allReduce(allReduce).build();
    }

    /**
     * How this node sums across the nodes in the ring of this generation ({@code rank} of
     * {@code size}): on the ring of data channels when the coordinator handed out no NCCL id
     * (its replicas are not on GPUs), else with NCCL, this node joining the communicator of that
     * id as {@code rank} ({@code groups}: this node's; null when its replicas are not on GPUs,
     * which the coordinator refuses at join, so it is checked again here).
     */
    static CrossNodeSum crossNodeSum(int rank, int size, byte[] ncclUniqueId, RankGroups groups, RingLink channel) {
        if (ncclUniqueId.length == 0) return new RingAllReduce(rank, size, channel);
        if (groups == null) {
            throw new IllegalStateException("the coordinator sums the gradients with NCCL, but this node's replicas are not on GPUs: "
                    + "start it on its GPUs (phalanx node --device cuda)");
        }
        return new NcclNodeSum(groups, rank, size, ncclUniqueId);
    }

    /** Where replicas are, for the joined line and the start-up line: cpu; cuda:0, cuda:1. */
    static String describe(List<Device> devices) {
        return String.join(", ", new java.util.LinkedHashSet<>(devices.stream().map(Device::toString).toList()));
    }

    /**
     * A node's part of the step's loss, from its replicas' loss over its rows: weighted by its
     * share of the batch, except in the reproducible mode, where the loss already scaled each
     * sample by 1/B of the global batch.
     */
    static double weightedLoss(Recipe r, double localLoss, float share) {
        return r.reproducible() ? localLoss : localLoss * (double) share;
    }

    /** SHA-256 over the examples as the recipe's transforms give them, and their labels: equal data sets, equal digests. */
    static String digest(ImageDataset d) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            ByteBuffer buf = ByteBuffer.allocate(1 << 16);
            buf.putInt(d.size());
            for (int i = 0; i < d.size(); i++) {
                Example e = d.get(i);
                float[] x = e.input().contiguousFloats();
                if (buf.remaining() < 8) flush(sha, buf);
                buf.putLong(e.label());
                for (float v : x) {
                    if (!buf.hasRemaining()) flush(sha, buf);
                    buf.putFloat(v);
                }
            }
            flush(sha, buf);
            return HexFormat.of().formatHex(sha.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void flush(MessageDigest sha, ByteBuffer buf) {
        sha.update(buf.array(), 0, buf.position());
        buf.clear();
    }

    /** The epoch's example order, exactly as the coordinator's data loader has it (it depends only on seed and epoch). */
    static int[] order(ImageDataset d, Recipe r, int epoch) {
        try (DataLoader loader = new DataLoader(d, r.batchSize(), r.shuffle(), r.seed(), false, 0, 1)) {
            return loader.order(epoch);
        }
    }

    /** Rows [begin, end) of batch {@code batch} in that order (batches of {@code batchSize} rows; the last may be shorter): inputs and labels. */
    static Tensor[] rows(ImageDataset d, int[] order, int batch, int batchSize, int begin, int end) {
        int from = batch * batchSize + begin, n = end - begin;
        if (from + n > order.length) {
            throw new IllegalArgumentException("rows " + begin + ".." + end + " of batch " + batch + " lie beyond this node's data set of "
                    + order.length + " examples");
        }
        Example first = d.get(order[from]);
        int each = first.input().numel();
        float[] inputs = new float[n * each];
        long[] labels = new long[n];
        for (int i = 0; i < n; i++) {
            Example e = i == 0 ? first : d.get(order[from + i]);
            System.arraycopy(e.input().contiguousFloats(), 0, inputs, i * each, each);
            labels[i] = e.label();
        }
        int[] shape = first.input().shape();
        int[] batchShape = new int[shape.length + 1];
        batchShape[0] = n;
        System.arraycopy(shape, 0, batchShape, 1, shape.length);
        return new Tensor[] {Tensor.of(inputs, batchShape), Tensor.ofLongs(labels, n)};
    }
}
