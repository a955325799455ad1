package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.train.TrainerConfig;

/**
 * A training step is two Spark jobs (the step's DAG and the update) for every placement and routing,
 * except local routing with the experts on the driver: one job, whose aggregation brings the expert
 * gradients to the driver's optimiser.
 */
class StepJobsTest {

    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("org.sparkmoe.engine.DistributedStepEquivalenceTest#placementsAndRoutings")
    void aStepIsAtMostTwoJobs(ExpertPlacement placement, RoutingMode routing) throws InterruptedException {
        int jobs = placement == ExpertPlacement.DRIVER && routing == RoutingMode.LOCAL ? 1 : 2;
        JavaSparkContext sc = SparkTestContext.get();
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.05, 3), 0.5, 11, Precision.F32);
        EngineConfig ec = new EngineConfig(routing, placement, 2, 24, tc, 100, false);
        // job groups are named by step number, so earlier trainers on this context count too
        int[] before = new int[4];
        for (int step = 1; step <= 3; step++) before[step] = settledJobs(sc, "spark-moe-step-" + step, 0);
        try (SparkMoETrainer engine = new SparkMoETrainer(sc, DistributedStepEquivalenceTest.regressionNetwork(), ec,
                sc.parallelize(DistributedStepEquivalenceTest.regressionBlocks(3), 3))) {
            for (int s = 0; s < 3; s++) engine.trainStep();
        }
        for (int step = 1; step <= 3; step++) {
            String group = "spark-moe-step-" + step;
            assertEquals(jobs, settledJobs(sc, group, before[step] + jobs) - before[step], "jobs of step " + step);
        }
    }

    /** The jobs the status tracker knows in {@code group}, once it has heard of {@code expected} (or 20 s passed) and a little after. */
    private static int settledJobs(JavaSparkContext sc, String group, int expected) throws InterruptedException {
        // the status tracker hears of jobs through the listener bus, asynchronously
        long until = System.currentTimeMillis() + 20_000;
        while (sc.statusTracker().getJobIdsForGroup(group).length < expected && System.currentTimeMillis() < until) Thread.sleep(50);
        Thread.sleep(300);
        return sc.statusTracker().getJobIdsForGroup(group).length;
    }
}
