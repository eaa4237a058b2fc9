package dev.phalanx.parallel.cluster;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * What NCCL does across processes, for nodes that run in one JVM: communicators by unique id,
 * ranks that block until every rank has joined ({@code ncclCommInitRank}), and sums in rank
 * order that block until every rank has offered the same call. Each node gets its own view
 * ({@link #forNode}), so that the test sees who made which id and who joined as which rank.
 */
final class InMemoryRankGroups {

    /** Far above anything a joined cluster on a busy machine waits; a test that hangs fails here. */
    static final long WAIT_MS = 120_000;

    /** One id made by a node ({@code newUniqueId}), or one rank's join. */
    record Made(String node, String id) { }

    record Joined(String node, int rank, int ranks, String id) { }

    private final Map<String, Communicator> communicators = new HashMap<>();
    private final Random random = new Random(42);
    final List<Made> made = Collections.synchronizedList(new ArrayList<>());
    final List<Joined> joined = Collections.synchronizedList(new ArrayList<>());

    /** The {@link RankGroups} of node {@code node}. */
    RankGroups forNode(String node) {
        return new RankGroups() {
            @Override
            public byte[] newUniqueId() {
                byte[] id = new byte[dev.phalanx.kernels.cuda.NcclRankAllReduce.UNIQUE_ID_BYTES];
                synchronized (InMemoryRankGroups.this) {
                    random.nextBytes(id);
                }
                made.add(new Made(node, HexFormat.of().formatHex(id)));
                return id;
            }

            @Override
            public RankGroup join(int rank, int ranks, byte[] uniqueId) {
                String id = HexFormat.of().formatHex(uniqueId);
                Communicator c;
                synchronized (InMemoryRankGroups.this) {
                    c = communicators.computeIfAbsent(id, k -> new Communicator(ranks));
                }
                c.join(rank, ranks);
                joined.add(new Joined(node, rank, ranks, id));
                return new RankGroup() {
                    @Override
                    public float[] allReduceSum(float[] values) {
                        return c.sum(rank, values);
                    }

                    @Override
                    public void abort() {
                        c.abort();
                    }

                    @Override
                    public void close() { }
                };
            }

            @Override
            public String describe() {
                return "in-memory communicator";
            }
        };
    }

    /** How many sums rank {@code rank} of communicator {@code id} took part in. */
    long sums(String id, int rank) {
        Communicator c;
        synchronized (this) {
            c = communicators.get(id);
        }
        return c == null ? 0 : c.calls(rank);
    }

    private static final class Communicator {
        private final int ranks;
        private final boolean[] present;
        private int joined;
        private boolean aborted;
        private final long[] calls; // per rank: sums offered so far; call k of every rank meets call k of the others
        private final Map<Long, float[][]> offered = new HashMap<>();
        private final Map<Long, float[]> results = new HashMap<>();
        private final Map<Long, Integer> taken = new HashMap<>();

        Communicator(int ranks) {
            this.ranks = ranks;
            this.present = new boolean[ranks];
            this.calls = new long[ranks];
        }

        synchronized void join(int rank, int n) {
            if (n != ranks || rank < 0 || rank >= ranks || present[rank]) {
                throw new IllegalStateException("rank " + rank + " of " + n + " cannot join a communicator of " + ranks + " ranks"
                        + (rank >= 0 && rank < ranks && present[rank] ? " twice" : ""));
            }
            present[rank] = true;
            joined++;
            notifyAll();
            await(() -> joined == ranks, "every rank joining (" + joined + " of " + ranks + ")");
        }

        synchronized long calls(int rank) {
            return calls[rank];
        }

        synchronized float[] sum(int rank, float[] values) {
            long k = calls[rank]++;
            float[][] round = offered.computeIfAbsent(k, x -> new float[ranks][]);
            round[rank] = values.clone();
            boolean all = true;
            for (float[] v : round) all &= v != null;
            if (all) {
                float[] s = round[0].clone(); // in rank order
                for (int r = 1; r < ranks; r++) {
                    if (round[r].length != s.length) throw new IllegalStateException("ranks offered " + s.length + " and " + round[r].length + " values in sum " + k);
                    for (int i = 0; i < s.length; i++) s[i] += round[r][i];
                }
                results.put(k, s);
                offered.remove(k);
                notifyAll();
            }
            await(() -> results.containsKey(k), "sum " + k + " of every rank");
            float[] out = results.get(k).clone();
            if (taken.merge(k, 1, Integer::sum) == ranks) {
                results.remove(k);
                taken.remove(k);
            }
            return out;
        }

        synchronized void abort() {
            aborted = true;
            notifyAll();
        }

        private void await(java.util.function.BooleanSupplier done, String what) {
            long deadline = System.currentTimeMillis() + WAIT_MS;
            while (!done.getAsBoolean()) {
                if (aborted) throw new IllegalStateException("the communicator was aborted while waiting for " + what);
                long left = deadline - System.currentTimeMillis();
                if (left <= 0) throw new IllegalStateException("waited " + WAIT_MS + " ms for " + what);
                try {
                    wait(left);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while waiting for " + what, e);
                }
            }
        }
    }
}
