package dev.phalanx.parallel.cluster;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.phalanx.io.SafeTensors;
import dev.phalanx.kernels.Device;
import dev.phalanx.tensor.Tensor;
import dev.phalanx.train.Recipe;
import dev.phalanx.train.Trainer;

/**
 * GPU nodes in a cluster, everything above the thin CUDA calls: a coordinator and two workers in
 * this JVM (each its own ActorSystem on 127.0.0.1, its replica on a simulated device), summing
 * with an in-memory communicator in NCCL's place. The coordinator, rank 0, makes the
 * communicator's id; the cluster hands it to every node in RingFormed (through the Protobuf
 * serializer: the nodes are remote to each other); each node joins as its rank (join order, the
 * coordinator 0); the buckets are summed by the communicator, not on the data channel; a node
 * whose replicas are on the cpu is refused with the reason; and the job ends with the parameters
 * of 1 replica. {@code NcclClusterGpuTest} runs the same on GPUs with NCCL itself.
 */
class ClusterCommunicatorTest {

    /** Few steps: the parameters are compared where no discrete choice (a max-pool tie) can have flipped (DESIGN.md). */
    static final int STEPS = 5;
    /** A bounded wait for each node, far above a job of a few steps on a busy 2-core machine. */
    static final long NODE_WAIT_SECONDS = 240;

    @TempDir
    Path dir;

    /** Where node {@code i} (0: the coordinator) puts its replica: simulated devices apart from the other tests'. */
    protected Device device(int node) {
        return Device.sim(31 + node);
    }

    /** Node {@code name}'s communicator. */
    protected RankGroups groups(InMemoryRankGroups hub, String name, Device device) {
        return hub.forNode(name);
    }

    /** max|a - b| / max|a| per tensor against 1 replica on the cpu after {@link #STEPS} steps: DESIGN.md's one-step bound. */
    protected double tolerance() {
        return 1e-5;
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private static PrintStream printer(ByteArrayOutputStream b) {
        return new PrintStream(b, true, StandardCharsets.UTF_8);
    }

    private static String text(ByteArrayOutputStream b) {
        return b.toString(StandardCharsets.UTF_8);
    }

    @Test
    void gpuNodesSumWithTheCommunicatorWhoseIdTheCoordinatorHandsOut() throws Exception {
        InMemoryRankGroups hub = new InMemoryRankGroups();
        Recipe recipe = Recipe.parse("model = fashion-lenet\ndata.set = fashion-mnist-sample\n"
                + "train { epochs = 1, batch-size = 30, max-steps = " + STEPS + ", log-every = " + STEPS + ", keep-checkpoints = 5, evaluate = false }\n",
                "ClusterCommunicatorTest");
        Path conf = dir.resolve("cluster.conf");
        Files.writeString(conf, "phalanx.cluster { join-timeout = 90s, step-timeout = 120s, secret = \"s3cret\" }\n");
        int seedPort = freePort();
        String seed = "127.0.0.1:" + seedPort;
        ClusterSettings coordinatorSettings = ClusterSettings.load(conf).withBind("127.0.0.1", seedPort);
        RankGroups coordinatorGroups = groups(hub, "coordinator", device(0));
        ByteArrayOutputStream coordinatorOut = new ByteArrayOutputStream();
        PrintStream co = printer(coordinatorOut);
        ExecutorService pool = Executors.newCachedThreadPool();
        try {
            Future<Trainer.Outcome> coordinator = pool.submit(() -> new Trainer(recipe, new Trainer.Options(dir.resolve("cluster-run"), false, co, co, false,
                    null, null, (r, train) -> ClusterSteps.start(r, train, coordinatorSettings, 3, co, List.of(device(0)), coordinatorGroups), null)).run());

            // a node on the cpu cannot join NCCL: refused with the reason, before the others join
            ByteArrayOutputStream cpuOut = new ByteArrayOutputStream(), cpuErr = new ByteArrayOutputStream();
            int cpuPort = freePort();
            int refused = NodeMain.run(ClusterSettings.load(conf).withBind("127.0.0.1", cpuPort), seed,
                    new NodeAgent.Options(1, null, "cpu", List.of(Device.CPU), null, printer(cpuOut), printer(cpuErr)));
            assertEquals(1, refused, text(cpuErr));
            assertTrue(text(cpuErr).contains("phalanx node: refused by the coordinator: this job sums its gradients across the nodes with "
                    + coordinatorGroups.describe() + " (the coordinator's replicas are on GPUs), and this node's replicas are on cpu, which NCCL "
                    + "cannot reach: start it on its GPUs (phalanx node --device cuda)"), text(cpuErr));

            List<ByteArrayOutputStream> outs = new ArrayList<>();
            List<Future<Integer>> workers = new ArrayList<>();
            List<String> names = new ArrayList<>();
            for (int i = 1; i <= 2; i++) {
                int port = freePort();
                String name = "127.0.0.1:" + port;
                Device d = device(i);
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                PrintStream o = printer(out);
                NodeAgent.Options options = new NodeAgent.Options(1, null, d.toString(), List.of(d), groups(hub, name, d), o, o);
                ClusterSettings s = ClusterSettings.load(conf).withBind("127.0.0.1", port);
                workers.add(pool.submit(() -> NodeMain.run(s, seed, options)));
                outs.add(out);
                names.add(name);
            }
            coordinator.get(NODE_WAIT_SECONDS, TimeUnit.SECONDS);
            for (int i = 0; i < 2; i++) assertEquals(0, workers.get(i).get(NODE_WAIT_SECONDS, TimeUnit.SECONDS), text(outs.get(i)));
            String out = text(coordinatorOut);
            assertTrue(out.contains("Using 3 nodes") && out.contains("gradients by " + coordinatorGroups.describe() + ", rank 0 of 3"), out);

            // ranks in join order, the coordinator 0: the order of the joined lines
            Matcher joinedLine = Pattern.compile("^node (127\\.0\\.0\\.1:\\d+) joined: 1 replica on (\\S+)$", Pattern.MULTILINE).matcher(out);
            List<String> order = new ArrayList<>();
            while (joinedLine.find()) {
                order.add(joinedLine.group(1));
                assertEquals(device(names.indexOf(joinedLine.group(1)) + 1).toString(), joinedLine.group(2), "the joined line names the node's device");
            }
            assertEquals(2, order.size(), out);
            assertTrue(order.containsAll(names), order + " " + names);
            for (int i = 0; i < 2; i++) {
                String nodeOut = text(outs.get(names.indexOf(order.get(i))));
                assertTrue(nodeOut.contains("rank " + (i + 1) + " of 3, 1 replica on " + device(names.indexOf(order.get(i)) + 1)), nodeOut);
            }
            checkCommunicator(hub, order, recipe);

            // the data channel carried no gradients: the communicator summed them
            Matcher traffic = Pattern.compile("data channel: (\\d+) bytes sent per step by this node \\(the gradients are summed by ").matcher(out);
            assertTrue(traffic.find(), out);
            assertEquals(0, Long.parseLong(traffic.group(1)), out);

            // and the job ends with 1 replica's parameters
            ByteArrayOutputStream oneOut = new ByteArrayOutputStream();
            PrintStream oo = printer(oneOut);
            new Trainer(recipe, new Trainer.Options(dir.resolve("one-run"), false, oo, oo, false, null, null)).run();
            Map<String, Tensor> expected = checkpoint(dir.resolve("one-run")), got = checkpoint(dir.resolve("cluster-run"));
            assertEquals(expected.keySet(), got.keySet());
            for (var e : expected.entrySet()) {
                double d = relativeDifference(e.getValue(), got.get(e.getKey()));
                assertTrue(d <= tolerance(), e.getKey() + " after " + STEPS + " steps differs from 1 replica's by " + d + "\n" + out);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * The in-memory communicator saw the id handout: one id, made by the coordinator; every node
     * joined it as its rank; every rank took part in every bucket of every step. (NCCL keeps no
     * such record: the GPU test skips this.)
     */
    protected void checkCommunicator(InMemoryRankGroups hub, List<String> order, Recipe recipe) {
        assertEquals(1, hub.made.size(), "one communicator for the job's one ring: " + hub.made);
        assertEquals("coordinator", hub.made.get(0).node(), "rank 0 makes the id");
        String id = hub.made.get(0).id();
        List<InMemoryRankGroups.Joined> expected = List.of(new InMemoryRankGroups.Joined("coordinator", 0, 3, id),
                new InMemoryRankGroups.Joined(order.get(0), 1, 3, id), new InMemoryRankGroups.Joined(order.get(1), 2, 3, id));
        assertEquals(new java.util.HashSet<>(expected), new java.util.HashSet<>(hub.joined), "who joined as which rank, with which id");
        long sums = (long) STEPS * ClusterJob.bucketCount(recipe);
        for (int r = 0; r < 3; r++) assertEquals(sums, hub.sums(id, r), "rank " + r + " summed every bucket of every step");
    }

    private static Map<String, Tensor> checkpoint(Path run) throws Exception {
        return SafeTensors.read(run.resolve("checkpoints").resolve(String.format("step-%08d", STEPS)).resolve("model.safetensors")).tensors();
    }

    private static double relativeDifference(Tensor a, Tensor b) {
        float[] x = a.data(), y = b.data();
        double diff = 0, scale = 0;
        for (int i = 0; i < x.length; i++) {
            diff = Math.max(diff, Math.abs(x[i] - y[i]));
            scale = Math.max(scale, Math.abs(x[i]));
        }
        return diff / Math.max(scale, 1e-30);
    }
}
