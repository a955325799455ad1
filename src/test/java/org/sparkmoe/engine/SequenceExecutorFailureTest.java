package org.sparkmoe.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.sequence.SequenceLayout;
import org.sparkmoe.engine.sequence.SparkSequenceTrainer;

/**
 * The recurrent LM's Spark step survives an executor JVM killed (SIGKILL) when step 3's combine
 * stage is submitted, on {@code local-cluster[2,1,1024]}: the lost cached partition steps, shuffle
 * outputs and (SHARDED) expert state are recomputed, every step starts from the driver's cursors,
 * and the run ends with the parameters and LSTM state of an undisturbed run (1e-12 relative, F64).
 * The kill mechanics are {@link ExecutorFailureTest}'s.
 */
class SequenceExecutorFailureTest {
    private static final int STEPS = 5, KILL_STEP = 3;
    private static JavaSparkContext sc;
    private static final AtomicBoolean ARMED = new AtomicBoolean();

    @BeforeAll
    static void startCluster() {
        sc = SparkTestContext.localCluster();
    }

    @AfterAll
    static void stopCluster() {
        SparkTestContext.stop();
    }

    @ParameterizedTest(name = "{0} placement")
    @EnumSource(ExpertPlacement.class)
    void sequenceTrainingSurvivesAnExecutorKilledMidStep(ExpertPlacement placement) throws Exception {
        SparkTestContext.awaitExecutors(SparkTestContext.CLUSTER_EXECUTORS, 120_000);
        Object[] undisturbed = train(placement, false);
        ExecutorFailureTest.Failures killer = new ExecutorFailureTest.Failures(sc, "spark-moe sequence combine",
                "spark-moe sequence step " + KILL_STEP, ARMED);
        sc.sc().addSparkListener(killer);
        Object[] disturbed;
        try {
            disturbed = train(placement, true);
        } finally {
            sc.sc().removeSparkListener(killer);
        }
        assertNotNull(killer.killed.get(), "no executor was killed");
        killer.killed.get().onExit().get(30, TimeUnit.SECONDS);
        double[] l0 = (double[]) undisturbed[0], l1 = (double[]) disturbed[0];
        for (int s = 0; s < STEPS; s++) assertEquals(l0[s], l1[s], 1e-12 * Math.abs(l0[s]), "loss of step " + (s + 1));
        TrainingState a = (TrainingState) undisturbed[1], b = (TrainingState) disturbed[1];
        assertClose(a.params().shared().flat(), b.params().shared().flat(), "shared");
        for (int e = 0; e < a.params().experts().length; e++) {
            assertClose(a.params().experts()[e].flat(), b.params().experts()[e].flat(), "expert " + e);
        }
        SparkTestContext.awaitExecutors(SparkTestContext.CLUSTER_EXECUTORS, 120_000);
    }

    private Object[] train(ExpertPlacement placement, boolean kill) {
        RecurrentLanguageModel model = org.sparkmoe.engine.sequence.SparkSequenceEquivalenceTestAccess.model("flat");
        TrainerConfig tc = org.sparkmoe.engine.sequence.SparkSequenceEquivalenceTestAccess.trainer(Precision.F64);
        EngineConfig ec = new EngineConfig(RoutingMode.SHUFFLE, placement, 2, 20, tc, 4, false);
        SequenceLayout layout = new SequenceLayout(5, 4, 30, 0, 12, 3);
        double[] losses = new double[STEPS];
        try (SparkSequenceTrainer t = new SparkSequenceTrainer(sc, model, ec,
                org.sparkmoe.engine.sequence.SparkSequenceEquivalenceTestAccess.documents(sc, 12), layout)) {
            for (int s = 0; s < STEPS; s++) {
                if (kill && s + 1 == KILL_STEP) ARMED.set(true);
                losses[s] = t.trainStep().taskLoss();
            }
            return new Object[]{losses, t.snapshot()};
        }
    }

    private static void assertClose(Matrix expected, Matrix actual, String what) {
        for (int i = 0; i < expected.size(); i++) {
            double a = expected.getFlat(i), b = actual.getFlat(i);
            int at = i;
            assertTrue(Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b)), () -> what + " element " + at + ": " + a + " vs " + b);
        }
    }
}
