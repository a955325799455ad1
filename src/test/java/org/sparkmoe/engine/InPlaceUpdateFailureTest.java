package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.core.train.TrainingState;

/**
 * The sharded expert update overwrites the state in place ({@link ExpertShard#update}); a task of
 * it that fails after writing half of its shard is retried by Spark and the run ends bit-identical
 * to one without the failure. On {@code local[2,4]} (four attempts a task) an 8-step run (SHUFFLE
 * routing, 2 shards of 4 experts, lineage cut every 4 steps) fails the first attempt of four update
 * tasks once each: step 1, shard 1 (in place over the initial state, the lineage root, which the
 * retry recomputes from the seed), step 3, shard 0 (in place, root the initial state), step 5, shard
 * 0 (the update after the root checkpointed at step 4) and step 7, shard 1 (in place, root step 4).
 * A retried in-place task finds state t - 1's block removed and recomputes it from the root; reading
 * the half-written object instead would throw ({@link ExpertShard#checkReadable}) and give other
 * values. With a reliable checkpoint directory (every update is in place; a recomputation reads the
 * files of the root at step 4, or draws the initial state from the seed again) and with local
 * checkpoints (the root at step 4 then exists only as its cached blocks, which {@link ShardedExperts}
 * keeps until the next root, and the update of step 5 writes into other buffers).
 */
class InPlaceUpdateFailureTest {
    private static final int STEPS = 8;
    private static final Set<String> FAIL = Set.of("1/1", "3/0", "5/0", "7/1");

    private JavaSparkContext sc;

    @AfterEach
    void stop() {
        ExpertShard.testHook = null;
        if (sc != null) sc.stop();
        sc = null;
    }

    @ParameterizedTest(name = "reliable checkpoints {0}, {1}")
    @CsvSource({"true, F32", "false, F32", "true, F64"})
    void retriedHalfWrittenUpdateEndsBitIdentical(boolean reliable, Precision precision) throws Exception {
        sc = retryingContext(reliable);

        Run clean = train(precision);
        Set<String> failed = ConcurrentHashMap.newKeySet();
        Set<String> retried = ConcurrentHashMap.newKeySet();
        ExpertShard.testHook = (step, shard, written, experts) -> {
            String at = step + "/" + shard;
            if (!FAIL.contains(at)) return;
            if (TaskContext.get().attemptNumber() == 0) {
                failed.add(at);
                throw new IllegalStateException("test: update of shard " + shard + " at step " + step + " fails after "
                        + written + " of " + experts + " experts");
            }
            retried.add(at);
        };
        Run disturbed = train(precision);
        ExpertShard.testHook = null;

        assertEquals(FAIL, failed, "first attempts failed");
        assertEquals(FAIL, retried, "and were retried");
        for (int s = 0; s < STEPS; s++) assertEquals(clean.losses[s], disturbed.losses[s], 0.0, "loss of step " + (s + 1));
        assertBitIdentical(clean.state, disturbed.state);
    }

    /** A {@code local[2,4]} context (four attempts a task, the shared test context stopped), with a checkpoint directory if {@code reliable}. */
    static JavaSparkContext retryingContext(boolean reliable) throws java.io.IOException {
        SparkTestContext.stop();
        JavaSparkContext sc = new JavaSparkContext(SparkTestContext.conf("local[2,4]"));
        sc.setLogLevel("ERROR");
        if (reliable) sc.setCheckpointDir(Files.createTempDirectory("spark-moe-inplace").toUri().toString());
        return sc;
    }

    /** Shared parameters, experts and their Adam moments equal bit for bit. */
    static void assertBitIdentical(TrainingState clean, TrainingState disturbed) {
        assertIdentical(clean.params().shared().flat(), disturbed.params().shared().flat(), "shared");
        for (int e = 0; e < clean.params().experts().length; e++) {
            assertIdentical(clean.params().experts()[e].flat(), disturbed.params().experts()[e].flat(), "expert " + e);
            List<OptimiserState.Slot> a = clean.expertOptimisers()[e].slots(), b = disturbed.expertOptimisers()[e].slots();
            for (int k = 0; k < a.size(); k++) {
                assertIdentical(a.get(k).values().flat(), b.get(k).values().flat(), "expert " + e + " Adam " + a.get(k).name());
            }
        }
    }

    private record Run(double[] losses, TrainingState state) {
    }

    private Run train(Precision precision) {
        MoENetwork net = DistributedStepEquivalenceTest.regressionNetwork();
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.05, 3), 0.5, 11, precision);
        EngineConfig ec = new EngineConfig(RoutingMode.SHUFFLE, ExpertPlacement.SHARDED, 2, 24, tc, 4, false);
        double[] losses = new double[STEPS];
        try (SparkMoETrainer engine = new SparkMoETrainer(sc, net, ec,
                sc.parallelize(DistributedStepEquivalenceTest.weighted(DistributedStepEquivalenceTest.regressionBlocks(3)), 3))) {
            for (int s = 0; s < STEPS; s++) losses[s] = engine.trainStep().taskLoss();
            return new Run(losses, engine.snapshot());
        }
    }

    private static void assertIdentical(Matrix a, Matrix b, String what) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) assertEquals(a.getFlat(i), b.getFlat(i), 0.0, what + " element " + i);
    }
}
