package org.sparkmoe.engine.sequence;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.file.Path;
import java.util.Map;

import org.apache.hadoop.conf.Configuration;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.recurrent.RecurrentState;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.engine.RoutingMode;
import org.sparkmoe.engine.SparkTestContext;
import org.sparkmoe.engine.checkpoint.CheckpointStore;

/**
 * A sequence run checkpointed after 3 steps and resumed in a new trainer continues bit for bit as
 * the uninterrupted run (F32): the checkpoint carries parameters, optimiser state, step, every
 * stream's document and position and the LSTM state; a layout that does not match is refused.
 */
class SequenceCheckpointResumeTest {
    static final int S = SparkSequenceEquivalenceTest.S, T = SparkSequenceEquivalenceTest.T;

    @ParameterizedTest(name = "{0}, {1}, {2}")
    @CsvSource({"flat, DRIVER, SHUFFLE", "flat, SHARDED, SHUFFLE", "hierarchical, SHARDED, SHUFFLE", "lstm, DRIVER, SHUFFLE",
            "flat, DRIVER, LOCAL", "hierarchical, DRIVER, LOCAL"})
    void resumedRunEqualsUninterruptedRun(String kind, ExpertPlacement placement, RoutingMode routing, @TempDir Path tmp)
            throws Exception {
        JavaSparkContext sc = SparkTestContext.get();
        RecurrentLanguageModel model = SparkSequenceEquivalenceTest.model(kind);
        TrainerConfig cfg = SparkSequenceEquivalenceTest.trainer(Precision.F32);
        EngineConfig engine = EngineConfig.of(routing, placement, 2, S * T, cfg);
        SequenceLayout layout = new SequenceLayout(S, T, SparkSequenceEquivalenceTest.END, 0, SparkSequenceEquivalenceTest.DOCUMENTS, 2);
        JavaPairRDD<Long, int[]> docs = SparkSequenceEquivalenceTest.documents(sc, SparkSequenceEquivalenceTest.DOCUMENTS);
        CheckpointStore store = new CheckpointStore(tmp.resolve("ckpt").toString(), new Configuration());
        TrainingState expected;
        RecurrentState expectedState;
        try (SparkSequenceTrainer run = new SparkSequenceTrainer(sc, model, engine, docs, layout)) {
            for (int i = 0; i < 3; i++) run.trainStep();
            run.checkpoint(store, Map.of());
            for (int i = 0; i < 3; i++) run.trainStep();
            expected = run.snapshot();
            expectedState = run.recurrentState();
        }
        try (SparkSequenceTrainer resumed = SparkSequenceTrainer.resume(sc, model, engine, docs, layout, store)) {
            assertEquals(3, resumed.stepsTaken());
            for (int i = 0; i < 3; i++) resumed.trainStep();
            TrainingState actual = resumed.snapshot();
            assertEquals(expected.step(), actual.step());
            assertIdentical(expected.params().shared().flat(), actual.params().shared().flat());
            for (int e = 0; e < expected.params().experts().length; e++) {
                assertIdentical(expected.params().experts()[e].flat(), actual.params().experts()[e].flat());
                assertIdentical(expected.expertOptimisers()[e].slots().get(0).values().flat(), actual.expertOptimisers()[e].slots().get(0).values().flat());
            }
            RecurrentState state = resumed.recurrentState();
            for (int l = 0; l < 2; l++) {
                assertIdentical(expectedState.hidden(l), state.hidden(l));
                assertIdentical(expectedState.cell(l), state.cell(l));
            }
        }
        SequenceLayout other = new SequenceLayout(S, T, SparkSequenceEquivalenceTest.END, 0, SparkSequenceEquivalenceTest.DOCUMENTS, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SparkSequenceTrainer.resume(sc, model, engine, docs, other, store));
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains("P = 2"), e.getMessage());
    }

    static void assertIdentical(Matrix expected, Matrix actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.getFlat(i), actual.getFlat(i), 0.0, "element " + i);
        }
    }
}
