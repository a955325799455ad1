package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.util.Map;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
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
 * With local lineage cuts (no checkpoint directory) the update after each cut writes into a spare
 * buffer set, never over the held root: the initial state's buffers join the executor's pool at its
 * first in-place update, so the root released at the second cut is the spare of the update after it,
 * and a run allocates one spare set per shard in all ({@link ExpertShard#STATE_SETS_ALLOCATED}; two
 * before, the second at the update after the second cut). Over three cuts and the update after the
 * third, for a seed-initialised, a resumed and a driver-distributed root and cut intervals 1-3; the
 * run ends bit-identical to the same run with reliable cuts (in place throughout, no spare).
 */
class PoolReuseTest {
    private static final int SHARDS = 2;
    private static final int RESUME_STEP = 2;

    @ParameterizedTest(name = "{0} root, cut every {1}")
    @CsvSource({"SEED, 1", "SEED, 2", "SEED, 3", "RESUMED, 1", "RESUMED, 3", "DISTRIBUTED, 1", "DISTRIBUTED, 3"})
    void oneSpareSetPerShardWithLocalCuts(RootRecomputationTest.RootKind kind, int interval) throws Exception {
        JavaSparkContext sc = SparkTestContext.get();
        scala.Option<String> dir = sc.sc().checkpointDir();
        TrainingState reliable = train(sc, kind, interval).state;
        sc.sc().checkpointDir_$eq(scala.Option.empty()); // local cuts, held roots
        Run local;
        try {
            local = train(sc, kind, interval);
        } finally {
            sc.sc().checkpointDir_$eq(dir);
        }
        assertEquals(SHARDS, local.allocated, "spare state sets allocated over three local cuts (cut every " + interval + ")");
        InPlaceUpdateFailureTest.assertBitIdentical(reliable, local.state);
    }

    private record Run(TrainingState state, long allocated) {
    }

    /** Trains from {@code kind}'s root through three cuts and the update after the third. */
    private static Run train(JavaSparkContext sc, RootRecomputationTest.RootKind kind, int interval) throws Exception {
        MoENetwork net = DistributedStepEquivalenceTest.regressionNetwork();
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.05, 3), 0.5, 11, Precision.F32);
        EngineConfig ec = new EngineConfig(RoutingMode.SHUFFLE, ExpertPlacement.SHARDED, SHARDS, 24, tc, interval, false);
        JavaRDD<RowBlock> data = sc.parallelize(DistributedStepEquivalenceTest.regressionBlocks(3), 3);
        SparkMoETrainer engine;
        if (kind == RootRecomputationTest.RootKind.RESUMED) {
            CheckpointStore store = new CheckpointStore(Files.createTempDirectory("spark-moe-pool").toUri().toString(), sc.hadoopConfiguration(), 1);
            try (SparkMoETrainer before = new SparkMoETrainer(sc, net, ec, data)) {
                for (int s = 0; s < RESUME_STEP; s++) before.trainStep();
                before.checkpoint(store, Map.of());
            }
            engine = SparkMoETrainer.resume(sc, net, ec, data, store);
        } else if (kind == RootRecomputationTest.RootKind.DISTRIBUTED) {
            engine = new SparkMoETrainer(sc, net, ec, data, ReferenceTrainer.initialState(net, tc));
        } else {
            engine = new SparkMoETrainer(sc, net, ec, data);
        }
        long before = ExpertShard.STATE_SETS_ALLOCATED.get();
        try (SparkMoETrainer e = engine) {
            long first = e.stepsTaken() + 1;
            long firstCut = (first + interval - 1) / interval * interval;
            while (e.stepsTaken() < firstCut + 2L * interval + 1) e.trainStep();
            return new Run(e.snapshot(), ExpertShard.STATE_SETS_ALLOCATED.get() - before);
        }
    }
}
