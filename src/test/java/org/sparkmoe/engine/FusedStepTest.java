package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerJobStart;
import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.train.TrainerConfig;

/**
 * Local routing with driver-held experts runs a step as one barrier stage when every group of data
 * partitions can run at once ({@link LocalPipeline#fused}), else as two stages
 * ({@code LocalPipeline.grouped}); both add the same floats in the same order, so the parameters
 * after several steps are bit-identical. (Recovery through the two stages when a cached data block
 * is lost: ExecutorFailureTest's LOCAL case.)
 */
class FusedStepTest {

    @Test
    void oneStageAndTwoStagesGiveTheSameBits() throws InterruptedException {
        JavaSparkContext sc = SparkTestContext.get();
        StagesPerGroup stages = new StagesPerGroup();
        sc.sc().addSparkListener(stages);
        try {
            ModelParameters fused = train(sc, true);
            Thread.sleep(500); // the listener bus is asynchronous
            // local[2], 3 partitions in 2 groups: both groups fit the 2 slots
            assertEquals(1, stages.of("spark-moe-step-3"), "stages of a fused step");
            ModelParameters twoStages = train(sc, false);
            Thread.sleep(500);
            assertEquals(2, stages.of("spark-moe-step-3"), "stages of a step without barrier mode");
            assertBits(twoStages.shared().flat(), fused.shared().flat(), "shared");
            for (int e = 0; e < fused.experts().length; e++) assertBits(twoStages.experts()[e].flat(), fused.experts()[e].flat(), "expert " + e);
        } finally {
            sc.sc().removeSparkListener(stages);
        }
    }

    private static void assertBits(Matrix expected, Matrix actual, String what) {
        assertEquals(expected.size(), actual.size(), what);
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(Double.doubleToRawLongBits(expected.getFlat(i)), Double.doubleToRawLongBits(actual.getFlat(i)), what + " element " + i);
        }
    }

    private static ModelParameters train(JavaSparkContext sc, boolean fuse) {
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.05, 3), 0.5, 11, Precision.F32);
        EngineConfig ec = new EngineConfig(RoutingMode.LOCAL, ExpertPlacement.DRIVER, 2, 24, tc, 100, false);
        try (SparkMoETrainer engine = new SparkMoETrainer(sc, DistributedStepEquivalenceTest.regressionNetwork(), ec,
                sc.parallelize(DistributedStepEquivalenceTest.weighted(DistributedStepEquivalenceTest.regressionBlocks(3)), 3))) {
            engine.fuseStages(fuse);
            for (int s = 0; s < 4; s++) engine.trainStep();
            return engine.snapshot().params();
        }
    }

    /** The stages of the last job started in each job group. */
    private static final class StagesPerGroup extends SparkListener {
        private final Map<String, Integer> stages = new ConcurrentHashMap<>();

        @Override
        public void onJobStart(SparkListenerJobStart e) {
            String group = e.properties() == null ? null : e.properties().getProperty("spark.jobGroup.id");
            if (group != null) stages.put(group, e.stageIds().size());
        }

        int of(String group) {
            return stages.getOrDefault(group, -1);
        }
    }
}
