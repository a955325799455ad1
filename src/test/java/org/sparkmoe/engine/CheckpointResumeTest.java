package org.sparkmoe.engine;

import org.sparkmoe.app.TrainingLoop;
import org.sparkmoe.core.network.RowBlock;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.metrics.MetricsLog;
import org.sparkmoe.engine.metrics.StepMetrics;

/**
 * Stopping after a checkpoint and resuming in a fresh trainer (nothing kept but the files) ends
 * with exactly the parameters and optimiser state of an uninterrupted run; metrics.jsonl holds one
 * line per step.
 */
class CheckpointResumeTest {

    @ParameterizedTest
    @EnumSource(ExpertPlacement.class)
    void resumedRunEqualsUninterruptedRun(ExpertPlacement placement, @TempDir Path tmp) throws Exception {
        JavaSparkContext sc = SparkTestContext.get();
        MoENetwork net = DistributedStepEquivalenceTest.regressionNetwork();
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.05, 2), 1.0, 7, Precision.F64);
        EngineConfig ec = EngineConfig.of(RoutingMode.SHUFFLE, placement, 3, 16, tc);
        // weighted rows: the loss normaliser (their weight sum) is recomputed identically after a resume
        JavaRDD<RowBlock> data = sc.parallelize(DistributedStepEquivalenceTest.weighted(DistributedStepEquivalenceTest.regressionBlocks(3)), 3);

        TrainingState uninterrupted;
        try (SparkMoETrainer t = new SparkMoETrainer(sc, net, ec, data)) {
            for (int i = 0; i < 7; i++) t.trainStep();
            uninterrupted = t.snapshot();
        }

        String ckpt = tmp.resolve("ckpt").toUri().toString();
        String metrics = tmp.resolve("metrics.jsonl").toUri().toString();
        TrainingLoop.Options first = new TrainingLoop.Options(4, ckpt, 2, 2, metrics, Map.of("test", "resume"));
        TrainingLoop.Result r1 = TrainingLoop.run(sc, net, ec, data, first);
        assertEquals(4, r1.reports().size());
        r1.trainer().close();  // the driver's state is gone; only the checkpoint files remain

        TrainingLoop.Options second = new TrainingLoop.Options(7, ckpt, 2, 2, metrics, Map.of("test", "resume"));
        TrainingLoop.Result r2 = TrainingLoop.run(sc, net, ec, data, second);
        assertEquals(3, r2.reports().size(), "resumed at step 4");
        TrainingState resumed = r2.trainer().snapshot();
        r2.trainer().close();

        assertEquals(7, resumed.step());
        assertIdentical(uninterrupted.params(), resumed.params());
        for (int e = 0; e < net.numExperts(); e++) {
            assertIdentical(uninterrupted.expertOptimisers()[e].slot(Adam.SECOND_MOMENT).flat(),
                    resumed.expertOptimisers()[e].slot(Adam.SECOND_MOMENT).flat(), "expert " + e + " Adam v");
        }

        List<StepMetrics> lines = MetricsLog.read(metrics, sc.hadoopConfiguration());
        assertEquals(7, lines.size());
        for (int i = 0; i < 7; i++) {
            StepMetrics m = lines.get(i);
            assertEquals(i + 1, m.step());
            assertEquals(16, m.examples());
            assertTrue(Double.isFinite(m.taskLoss()) && m.tokensPerSecond() > 0);
            assertTrue(m.timingsMs().keySet().containsAll(List.of(StepMetrics.GATE, StepMetrics.DISPATCH, StepMetrics.EXPERTS,
                    StepMetrics.COMBINE, StepMetrics.AGGREGATE, StepMetrics.OPTIMISER)), m.timingsMs().toString());
        }
        assertEquals(7, Files.readAllLines(tmp.resolve("metrics.jsonl")).size(), "the file itself holds one line per step");
        // rerunning a finished run changes nothing
        TrainingLoop.Result r3 = TrainingLoop.run(sc, net, ec, data, second);
        assertEquals(0, r3.reports().size());
        r3.trainer().close();
        assertTrue(Files.exists(tmp.resolve("ckpt").resolve("step-000000007").resolve("meta.json")));
    }

    /**
     * Issue 11 case 6: a run stopped after step 5 but before that step's checkpoint resumes from
     * step 4 and trains step 5 again; metrics.jsonl keeps one line per step, the resumed run's.
     */
    @org.junit.jupiter.api.Test
    void stepsRedoneAfterAResumeAreNotRepeatedInTheMetrics(@TempDir Path tmp) throws Exception {
        JavaSparkContext sc = SparkTestContext.get();
        MoENetwork net = DistributedStepEquivalenceTest.regressionNetwork();
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.05, 2), 1.0, 7, Precision.F64);
        EngineConfig ec = EngineConfig.of(RoutingMode.SHUFFLE, ExpertPlacement.DRIVER, 3, 16, tc);
        JavaRDD<RowBlock> data = sc.parallelize(DistributedStepEquivalenceTest.regressionBlocks(3), 3);
        String ckpt = tmp.resolve("ckpt").toUri().toString();
        Path metrics = tmp.resolve("metrics.jsonl");

        TrainingLoop.run(sc, net, ec, data, new TrainingLoop.Options(5, ckpt, 2, 5, metrics.toUri().toString(), Map.of()))
                .trainer().close();
        // the kill: the final checkpoint (step 5) never reached the disk, steps 5's metrics line did
        try (var files = Files.walk(tmp.resolve("ckpt").resolve("step-000000005"))) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f);
        }
        TrainingLoop.Result r = TrainingLoop.run(sc, net, ec, data,
                new TrainingLoop.Options(6, ckpt, 2, 5, metrics.toUri().toString(), Map.of()));
        r.trainer().close();
        assertEquals(List.of(5L, 6L), r.reports().stream().map(StepReport::step).toList(), "resumed from step 4");

        List<String> lines = Files.readAllLines(metrics);
        List<Long> steps = new java.util.ArrayList<>();
        for (String line : lines) steps.add(StepMetrics.parse(line).step());
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), steps);
        assertEquals(r.reports().get(0).toMetrics(), StepMetrics.parse(lines.get(4)), "step 5 is the resumed run's");
    }

    private static void assertIdentical(ModelParameters a, ModelParameters b) {
        assertIdentical(a.shared().flat(), b.shared().flat(), "shared");
        for (int e = 0; e < a.experts().length; e++) assertIdentical(a.experts()[e].flat(), b.experts()[e].flat(), "expert " + e);
    }

    private static void assertIdentical(Matrix a, Matrix b, String what) {
        assertEquals(a.size(), b.size());
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.getFlat(i), b.getFlat(i), 0.0, what + " element " + i);
        }
    }
}
