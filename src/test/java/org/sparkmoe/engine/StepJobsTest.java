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
        // counted from the listener bus (the status tracker forgets old jobs once a shared context has run many)
        JobsPerGroup counter = new JobsPerGroup();
        sc.sc().addSparkListener(counter);
        try (SparkMoETrainer engine = new SparkMoETrainer(sc, DistributedStepEquivalenceTest.regressionNetwork(), ec,
                sc.parallelize(DistributedStepEquivalenceTest.regressionBlocks(3), 3))) {
            for (int s = 0; s < 3; s++) engine.trainStep();
            for (int step = 1; step <= 3; step++) {
                assertEquals(jobs, counter.settled("spark-moe-step-" + step, jobs), "jobs of step " + step);
            }
        } finally {
            sc.sc().removeSparkListener(counter);
        }
    }

    /** Jobs started per job group, as the listener bus reports them. */
    private static final class JobsPerGroup extends org.apache.spark.scheduler.SparkListener {
        private final java.util.Map<String, Integer> jobs = new java.util.concurrent.ConcurrentHashMap<>();

        @Override
        public void onJobStart(org.apache.spark.scheduler.SparkListenerJobStart e) {
            String group = e.properties() == null ? null : e.properties().getProperty("spark.jobGroup.id");
            if (group != null) jobs.merge(group, 1, Integer::sum);
        }

        /** The jobs of {@code group}, once {@code expected} have been heard of (or 20 s passed) and a little after. */
        int settled(String group, int expected) throws InterruptedException {
            // the listener bus is asynchronous
            long until = System.currentTimeMillis() + 20_000;
            while (jobs.getOrDefault(group, 0) < expected && System.currentTimeMillis() < until) Thread.sleep(50);
            Thread.sleep(300);
            return jobs.getOrDefault(group, 0);
        }
    }
}
