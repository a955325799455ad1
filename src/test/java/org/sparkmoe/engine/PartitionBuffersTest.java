package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;

import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.train.TrainerConfig;

/**
 * The pooled data-partition buffers and shuffle-read arenas ({@link PartitionBuffers}) are a cache:
 * float32 shuffle-routed training whose steps reuse the previous step's arrays (stale values in
 * them) is bit-identical to the same training with the executors' pool emptied before every step.
 */
class PartitionBuffersTest {

    @ParameterizedTest(name = "{0}, {1}")
    @CsvSource({"SHARDED, F32", "SHARDED, BF16", "DRIVER, F32"})
    void pooledStepsEqualStepsOnAnEmptyPool(ExpertPlacement placement, ShufflePayload payload) {
        List<Long> pooled = train(placement, payload, false);
        List<Long> fresh = train(placement, payload, true);
        assertEquals(fresh, pooled);
    }

    /** Each step's loss, then every shared and expert parameter, as float bits. */
    private static List<Long> train(ExpertPlacement placement, ShufflePayload payload, boolean emptyPoolEachStep) {
        JavaSparkContext sc = SparkTestContext.get();
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.05, 3), 0.5, 11, Precision.F32);
        EngineConfig ec = new EngineConfig(RoutingMode.SHUFFLE, placement, 2, 24, tc, 100, false).withShufflePayload(payload);
        List<Long> out = new ArrayList<>();
        try (SparkMoETrainer engine = new SparkMoETrainer(sc, DistributedStepEquivalenceTest.regressionNetwork(), ec,
                sc.parallelize(DistributedStepEquivalenceTest.regressionBlocks(3), 3))) {
            for (int s = 0; s < 5; s++) {
                if (emptyPoolEachStep) ExpertPool.clear(); // local mode: the driver's pool is the executors'
                out.add(Double.doubleToLongBits(engine.trainStep().taskLoss()));
            }
            var params = engine.snapshot().params();
            addBits(out, params.shared());
            for (Parameters e : params.experts()) addBits(out, e);
        }
        return out;
    }

    private static void addBits(List<Long> out, Parameters p) {
        for (int i = 0; i < p.flat().size(); i++) out.add(Double.doubleToLongBits(p.flat().getFlat(i)));
    }
}
