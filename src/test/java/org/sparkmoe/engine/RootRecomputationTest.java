package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.RowBlock;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.train.ReferenceTrainer;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.checkpoint.CheckpointStore;

/**
 * The sharded store's first state is a lineage root recomputed from its own lineage (the seed, a
 * checkpoint's files, the driver's parallelized copies), never written to files or held in cache
 * ({@link ShardedExperts.Root#RECOMPUTABLE}): the first update overwrites it in place. Every run
 * here trains to step 10 with a lineage cut every 10 steps, so steps 1-9 hang off that root, and
 * ends bit-identical to the same run without the fault:
 * <ul>
 * <li>on {@code local[2,4]}, the update of the first step after the start fails halfway over the
 * root (shard 1) and that of step 9 (shard 0) halfway over state 8, each retried once. The retry
 * of step 9 recomputes states start + 1 .. 8 of shard 0 from the root: each exactly once (counted
 * in the update), not once per branch of the zips (the update and the experts' forward both read
 * a state: 2^(8 - s) recomputations of state s if the overwritten states were unpersisted);</li>
 * <li>on {@code local-cluster[2,1,1024]}, an executor is killed (SIGKILL) in step 8's combine
 * stage: its cached state and shuffle files are recomputed from the root. The update calls are
 * counted on the surviving executor (a hook a job installs there; the replacement executor has
 * none): at most 1 for each step and shard here, 26-29 for state 1 with the overwritten states
 * unpersisted (session 10's code). The resumed run writes a checkpoint after every step with
 * {@code keep} 1: the files it resumed from stay until the cut ({@link CheckpointStore#hold}), since
 * the recomputation reads them (without the hold and without a checkpoint directory the run fails
 * with the shard file not found).</li>
 * </ul>
 * Each with and without a checkpoint directory, for a seed-initialised, a resumed (from step 2) and
 * a driver-distributed root.
 */
class RootRecomputationTest {
    private static final int STEPS = 10;
    private static final int RESUME_STEP = 2;

    enum RootKind { SEED, RESUMED, DISTRIBUTED }

    private JavaSparkContext local;

    @AfterEach
    void stop() {
        ExpertShard.testHook = null;
        if (local != null) local.stop();
        local = null;
    }

    @ParameterizedTest(name = "{0} root, checkpoint directory {1}")
    @CsvSource({"SEED, true", "SEED, false", "RESUMED, true", "RESUMED, false", "DISTRIBUTED, true", "DISTRIBUTED, false"})
    void retriedUpdatesRecomputeEachStateOnce(RootKind kind, boolean reliable) throws Exception {
        local = InPlaceUpdateFailureTest.retryingContext(reliable);
        int first = kind == RootKind.RESUMED ? RESUME_STEP + 1 : 1;
        Set<String> fail = Set.of(first + "/1", "9/0");

        Run clean = train(local, kind, false, null);
        Map<String, AtomicInteger> updates = new ConcurrentHashMap<>();
        Set<String> failed = ConcurrentHashMap.newKeySet();
        ExpertShard.testHook = (step, shard, written, experts) -> {
            String at = step + "/" + shard;
            updates.computeIfAbsent(at, k -> new AtomicInteger()).incrementAndGet();
            if (fail.contains(at) && TaskContext.get().attemptNumber() == 0) {
                failed.add(at);
                throw new IllegalStateException("test: update of shard " + shard + " at step " + step + " fails after "
                        + written + " of " + experts + " experts");
            }
        };
        Run disturbed = train(local, kind, false, null);
        ExpertShard.testHook = null;

        assertEquals(fail, failed, "first attempts failed");
        Map<String, Integer> counted = new TreeMap<>();
        updates.forEach((k, v) -> counted.put(k, v.get()));
        System.out.printf("%s root, checkpoint directory %b: update calls by step/shard %s%n", kind, reliable, counted);
        for (int s = first; s <= STEPS; s++) {
            // shard 0: the retry of step 9 rebuilt states first .. 8 once each
            assertEquals(s <= 9 ? 2 : 1, counted.get(s + "/0"), "updates of shard 0 at step " + s);
            assertEquals(s == first ? 2 : 1, counted.get(s + "/1"), "updates of shard 1 at step " + s);
        }
        assertSameRun(clean, disturbed);
    }

    @ParameterizedTest(name = "{0} root, checkpoint directory {1}")
    @CsvSource({"SEED, true", "SEED, false", "RESUMED, true", "RESUMED, false", "DISTRIBUTED, true", "DISTRIBUTED, false"})
    void executorLostBeforeTheFirstCutRecomputesTheRoot(RootKind kind, boolean reliable) throws Exception {
        JavaSparkContext sc = SparkTestContext.localCluster();
        SparkTestContext.awaitExecutors(SparkTestContext.CLUSTER_EXECUTORS, 120_000);
        scala.Option<String> dir = sc.sc().checkpointDir();
        if (!reliable) sc.sc().checkpointDir_$eq(scala.Option.empty());
        try {
            Run clean = train(sc, kind, false, null);
            Map<String, String> installed = ExecutorCounts.onEveryExecutor(sc, true);
            AtomicBoolean armed = new AtomicBoolean();
            ExecutorFailureTest.Failures failures = new ExecutorFailureTest.Failures(sc, "spark-moe combine", "spark-moe step 8", armed);
            sc.sc().addSparkListener(failures);
            Run disturbed;
            try {
                disturbed = train(sc, kind, true, armed);
            } finally {
                sc.sc().removeSparkListener(failures);
            }
            assertNotNull(failures.killed.get(), "no executor was killed");
            System.out.printf("%s root, checkpoint directory %b: killed executor %s in step 8; %d failed tasks, %d failed stage attempts%n",
                    kind, reliable, failures.killedId.get(), failures.failedTasks.get(), failures.failedStages.get());
            assertSameRun(clean, disturbed);
            // the surviving executor rebuilt the lost shard's states 1..7 (with its own shard's run once): at most twice
            // each there, where unpersisted states cost 2^(7 - s) rebuilds of state s
            installed.keySet().removeIf(id -> id.equals(failures.killedId.get()));
            if (installed.size() == 1) {
                String survivor = installed.keySet().iterator().next();
                Map<String, Integer> counts = ExecutorCounts.parse(ExecutorCounts.onEveryExecutor(sc, false).get(survivor));
                System.out.printf("%s root, checkpoint directory %b: update calls on the surviving executor %s by step/shard %s%n",
                        kind, reliable, survivor, counts);
                counts.forEach((at, n) -> {
                    if (Integer.parseInt(at.substring(0, at.indexOf('/'))) <= 7) assertTrue(n <= 2, () -> "update " + at + " ran " + n + " times");
                });
            }
        } finally {
            ExecutorCounts.onEveryExecutor(sc, false); // leaves no hook behind: install false only reads
            sc.sc().checkpointDir_$eq(dir);
            SparkTestContext.awaitExecutors(SparkTestContext.CLUSTER_EXECUTORS, 120_000);
        }
    }

    private record Run(double[] losses, TrainingState state) {
    }

    /** Update calls by step/shard counted in an executor JVM by a hook a job installs there. */
    static final class ExecutorCounts {
        static final Map<String, AtomicInteger> COUNTS = new ConcurrentHashMap<>();

        /**
         * Runs a task on every executor (16 tasks on the cluster's 2 one-core executors; those an executor did not
         * get are absent): with {@code install}, a fresh counting hook; else the hook is removed. Returns each
         * executor's counts before the call, as text.
         */
        static Map<String, String> onEveryExecutor(JavaSparkContext sc, boolean install) {
            List<Integer> tasks = new java.util.ArrayList<>();
            for (int i = 0; i < 16; i++) tasks.add(i);
            Map<String, String> out = new TreeMap<>();
            for (String r : sc.parallelize(tasks, tasks.size()).map(i -> ExecutorCounts.visit(install)).collect()) {
                int at = r.indexOf(' ');
                out.putIfAbsent(r.substring(0, at), r.substring(at + 1));
            }
            return out;
        }

        private static synchronized String visit(boolean install) {
            String id = org.apache.spark.SparkEnv.get().executorId();
            String counts = new TreeMap<>(COUNTS).toString();
            if (install) {
                COUNTS.clear();
                ExpertShard.testHook = (step, shard, written, experts) ->
                        COUNTS.computeIfAbsent(step + "/" + shard, k -> new AtomicInteger()).incrementAndGet();
            } else if (!install) {
                ExpertShard.testHook = null;
            }
            return id + " " + counts;
        }

        static Map<String, Integer> parse(String counts) {
            Map<String, Integer> m = new TreeMap<>();
            String body = counts.substring(1, counts.length() - 1).trim();
            if (body.isEmpty()) return m;
            for (String kv : body.split(", ")) {
                int eq = kv.indexOf('=');
                m.put(kv.substring(0, eq), Integer.parseInt(kv.substring(eq + 1)));
            }
            return m;
        }
    }

    private static Run train(JavaSparkContext sc, RootKind kind, boolean kill, AtomicBoolean armed) throws Exception {
        MoENetwork net = DistributedStepEquivalenceTest.regressionNetwork();
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.05, 3), 0.5, 11, Precision.F32);
        EngineConfig ec = new EngineConfig(RoutingMode.SHUFFLE, ExpertPlacement.SHARDED, 2, 24, tc, STEPS, false);
        JavaRDD<RowBlock> data = sc.parallelize(DistributedStepEquivalenceTest.weighted(DistributedStepEquivalenceTest.regressionBlocks(3)), 3);
        CheckpointStore store = null;
        SparkMoETrainer engine;
        if (kind == RootKind.RESUMED) {
            store = new CheckpointStore(Files.createTempDirectory("spark-moe-resume").toUri().toString(), sc.hadoopConfiguration(), 1);
            try (SparkMoETrainer before = new SparkMoETrainer(sc, net, ec, data)) {
                for (int s = 0; s < RESUME_STEP; s++) before.trainStep();
                before.checkpoint(store, Map.of());
            }
            engine = SparkMoETrainer.resume(sc, net, ec, data, store);
        } else if (kind == RootKind.DISTRIBUTED) {
            engine = new SparkMoETrainer(sc, net, ec, data, ReferenceTrainer.initialState(net, tc));
        } else {
            engine = new SparkMoETrainer(sc, net, ec, data);
        }
        double[] losses = new double[STEPS];
        try (SparkMoETrainer e = engine) {
            for (long s = e.stepsTaken(); s < STEPS; s++) {
                if (kill && s + 1 == 8) armed.set(true);
                losses[(int) s] = e.trainStep().taskLoss();
                // keep 1: without the hold this would delete the files the root is recomputed from
                if (store != null) e.checkpoint(store, Map.of());
            }
            return new Run(losses, e.snapshot());
        }
    }

    private static void assertSameRun(Run clean, Run disturbed) {
        for (int s = 0; s < STEPS; s++) assertEquals(clean.losses[s], disturbed.losses[s], 0.0, "loss of step " + (s + 1));
        InPlaceUpdateFailureTest.assertBitIdentical(clean.state, disturbed.state);
        assertTrue(clean.state.step() == STEPS && disturbed.state.step() == STEPS);
    }

}
