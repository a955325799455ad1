package org.sparkmoe.engine.sequence;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.function.LongFunction;
import java.util.stream.Stream;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.HierarchicalGating;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.recurrent.RecurrentState;
import org.sparkmoe.core.synthetic.MarkovMixtureCorpus;
import org.sparkmoe.core.train.SequenceTrainer;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.engine.RoutingMode;
import org.sparkmoe.engine.SparkTestContext;
import org.sparkmoe.engine.StepReport;

import scala.Tuple2;

/**
 * The Spark step of the recurrent LM equals the single-JVM {@link SequenceTrainer}, step after step
 * (losses, balance losses, expert batch sizes, gradient norm, every parameter and the carried LSTM
 * state, within 1e-6 relative in F64) for LSTM-LSTM, MoE-1-Wide and LSTM-MoE-LSTM with flat and
 * hierarchical gates, DRIVER and SHARDED experts, one data partition and three (uneven: S = 5),
 * over short documents so that windows cross document ends and streams wrap around; and the
 * held-out perplexity after training equals the reference's.
 */
class SparkSequenceEquivalenceTest {
    static final double TOL = 1e-6;
    static final MarkovMixtureCorpus CORPUS = new MarkovMixtureCorpus(30, 2, 3, 0.05, 9, null, 4);
    static final int V = 31, END = 30, D = 6, S = 5, T = 4, DOCUMENTS = 12, STEPS = 4;

    static RecurrentLanguageModel model(String kind) {
        return switch (kind) {
            case "lstm" -> RecurrentLanguageModel.lstmOnly(V, D, 0.1);
            case "moe-1-wide" -> RecurrentLanguageModel.moeOneWide(V, D, 8, 0.1);
            case "flat" -> RecurrentLanguageModel.withMoE(V, D, NoisyTopKGating.noisyTopK(D, 4, 2), 4, new BalanceWeights(0.1, 0.1), 0.1);
            case "hierarchical" -> RecurrentLanguageModel.withMoE(V, D, new HierarchicalGating(D, 2, 3, 2, 2, true), 4,
                    new BalanceWeights(0.1, 0.1), 0.1);
            default -> throw new IllegalArgumentException(kind);
        };
    }

    static TrainerConfig trainer(Precision precision) {
        return new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.02, 2), 1.0, 17, precision);
    }

    static JavaPairRDD<Long, int[]> documents(JavaSparkContext sc, int count) {
        return documents(sc, 0, count, 2);
    }

    static JavaPairRDD<Long, int[]> documents(JavaSparkContext sc, long first, int count, int partitions) {
        LongFunction<int[]> words = DocumentStreams.markov(CORPUS);
        List<Tuple2<Long, int[]>> docs = new ArrayList<>();
        for (long k = first; k < first + count; k++) docs.add(new Tuple2<>(k, words.apply(k)));
        return sc.parallelizePairs(docs, partitions);
    }

    static Stream<Arguments> configurations() {
        List<Arguments> out = new ArrayList<>();
        for (String kind : new String[]{"lstm", "moe-1-wide", "flat", "hierarchical"}) {
            for (ExpertPlacement placement : ExpertPlacement.values()) {
                for (int partitions : new int[]{1, 3}) {
                    if (kind.equals("lstm") && placement == ExpertPlacement.SHARDED) continue; // no experts
                    out.add(Arguments.of(kind, placement, partitions, RoutingMode.SHUFFLE));
                    // local routing: the experts broadcast from the driver to the partitions
                    if (!kind.equals("lstm") && placement == ExpertPlacement.DRIVER) {
                        out.add(Arguments.of(kind, placement, partitions, RoutingMode.LOCAL));
                    }
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}, {1}, {2} partitions, {3}")
    @MethodSource("configurations")
    void sparkStepsEqualTheReference(String kind, ExpertPlacement placement, int partitions, RoutingMode routing) {
        JavaSparkContext sc = SparkTestContext.get();
        RecurrentLanguageModel model = model(kind);
        TrainerConfig cfg = trainer(Precision.F64);
        int shards = Math.max(1, Math.min(2, model.numExperts()));
        EngineConfig engine = EngineConfig.of(routing, placement, shards, S * T, cfg).withKeepGradients(true);
        SequenceLayout layout = new SequenceLayout(S, T, END, 0, DOCUMENTS, partitions);
        SequenceTrainer reference = new SequenceTrainer(model, cfg, S);
        DocumentStreams streams = new DocumentStreams(S, T, DocumentStreams.markov(CORPUS), END, 0, DOCUMENTS, true);
        try (SparkSequenceTrainer spark = new SparkSequenceTrainer(sc, model, engine, documents(sc, DOCUMENTS), layout)) {
            assertClose(reference.state(), spark.snapshot(), "initial parameters");
            for (int i = 0; i < STEPS; i++) {
                SequenceTrainer.StepOutcome expected = reference.step(streams.next());
                StepReport actual = spark.trainStep();
                String at = "step " + (i + 1);
                assertEquals(expected.result().tokens(), actual.examples(), at + " tokens");
                assertRelative(expected.result().meanTaskLoss(), actual.taskLoss(), at + " loss");
                assertRelative(expected.gradientNorm(), actual.gradientNorm(), at + " gradient norm");
                if (model.moe() != null) {
                    assertArrayEquals(expected.result().expertBatchSizes(), actual.rowsPerExpert(), at + " expert batch sizes");
                    assertRelative(expected.result().balance().importanceLoss(), actual.balance().importanceLoss(), at + " L_importance");
                    assertRelative(expected.result().balance().loadLoss(), actual.balance().loadLoss(), at + " L_load");
                }
                assertClose(reference.state(), spark.snapshot(), at);
                assertClose(reference.recurrentState(), spark.recurrentState(), at + " LSTM state");
            }
            // held-out perplexity: the same whatever the partitioning and the number of sequences at a time
            double expected = reference.perplexity(new DocumentStreams(S, T, DocumentStreams.markov(CORPUS), END, DOCUMENTS, 9, false), S);
            SparkSequenceTrainer.Evaluation heldOut = spark.evaluate(documents(sc, DOCUMENTS, 9, 3), 2);
            assertRelative(expected, heldOut.perplexity(), "held-out perplexity");
        }
    }

    @org.junit.jupiter.api.Test
    void autoRoutesLocallyOnlyForSmallDriverHeldExperts() {
        JavaSparkContext sc = SparkTestContext.get();
        TrainerConfig cfg = trainer(Precision.F64);
        // (P + 1) n |theta_e| = 2 * 4 * 58 = 464 expert floats against k S T d = 2 * 5 * T * 6 row floats
        for (int t : new int[]{4, 12}) {
            SequenceLayout layout = new SequenceLayout(S, t, END, 0, DOCUMENTS, 1);
            for (ExpertPlacement placement : ExpertPlacement.values()) {
                EngineConfig engine = EngineConfig.of(RoutingMode.AUTO, placement, 2, S * t, cfg);
                try (SparkSequenceTrainer spark = new SparkSequenceTrainer(sc, model("flat"), engine, documents(sc, DOCUMENTS), layout)) {
                    RoutingMode expected = t == 12 && placement == ExpertPlacement.DRIVER ? RoutingMode.LOCAL : RoutingMode.SHUFFLE;
                    assertEquals(expected, spark.routing(), "T = " + t + ", " + placement);
                }
            }
        }
        EngineConfig sharded = EngineConfig.of(RoutingMode.LOCAL, ExpertPlacement.SHARDED, 2, S * T, cfg);
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new SparkSequenceTrainer(sc, model("flat"), sharded, documents(sc, DOCUMENTS), new SequenceLayout(S, T, END, 0, DOCUMENTS, 1)));
        assertTrue(e.getMessage().contains("placement SHARDED"), e.getMessage());
    }

    static void assertRelative(double expected, double actual, String what) {
        assertTrue(Math.abs(expected - actual) <= TOL * Math.max(1, Math.abs(expected)), what + ": " + expected + " vs " + actual);
    }

    static void assertClose(TrainingState expected, TrainingState actual, String what) {
        assertEquals(expected.step(), actual.step(), what + " step");
        assertClose(expected.params().shared().flat(), actual.params().shared().flat(), what + " shared");
        assertEquals(expected.params().experts().length, actual.params().experts().length);
        for (int e = 0; e < expected.params().experts().length; e++) {
            assertClose(expected.params().experts()[e].flat(), actual.params().experts()[e].flat(), what + " expert " + e);
        }
    }

    static void assertClose(RecurrentState expected, RecurrentState actual, String what) {
        for (int l = 0; l < expected.layers(); l++) {
            assertClose(expected.hidden(l), actual.hidden(l), what + " h" + l);
            assertClose(expected.cell(l), actual.cell(l), what + " c" + l);
        }
    }

    static void assertClose(Matrix expected, Matrix actual, String what) {
        assertEquals(expected.size(), actual.size(), what + " size");
        for (int i = 0; i < expected.size(); i++) {
            double e = expected.getFlat(i), a = actual.getFlat(i);
            assertTrue(Math.abs(e - a) <= TOL * Math.max(1, Math.abs(e)), what + " element " + i + ": " + e + " vs " + a);
        }
    }
}
