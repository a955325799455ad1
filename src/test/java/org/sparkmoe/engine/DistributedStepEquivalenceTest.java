package org.sparkmoe.engine;

import org.sparkmoe.core.network.RowBlock;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.HierarchicalGating;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.DenseProjection;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.SoftmaxCrossEntropyHead;
import org.sparkmoe.core.network.SquaredErrorHead;
import org.sparkmoe.core.network.TokenContextEmbedding;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.train.ReferenceTrainer;
import org.sparkmoe.core.train.TrainerConfig;

/**
 * A distributed step equals a reference-trainer step on the same batch: same gating decisions
 * (expert batch sizes), same losses, same gradients and same parameters after the update, within
 * 1e-6 relative in double precision, for every combination of data partitions (1, 3, 7), expert
 * shards (1, 4), placement, routing mode and gating (flat, hierarchical).
 */
class DistributedStepEquivalenceTest {
    static final double TOL = 1e-6;

    static Stream<Arguments> configurations() {
        List<Arguments> out = new ArrayList<>();
        for (String gating : new String[]{"flat", "hierarchical"}) {
            for (int partitions : new int[]{1, 3, 7}) {
                for (int shards : new int[]{1, 4}) {
                    for (ExpertPlacement placement : ExpertPlacement.values()) {
                        for (RoutingMode routing : RoutingMode.values()) {
                            out.add(Arguments.of(gating, partitions, shards, placement, routing));
                        }
                    }
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} gating, {1} partitions, {2} shards, {3}, {4}")
    @MethodSource("configurations")
    void distributedStepsMatchTheReference(String gating, int partitions, int shards, ExpertPlacement placement,
                                           RoutingMode routing) {
        assertStepsMatchReference(SparkTestContext.get(), gating, partitions, shards, placement, routing);
    }

    /** Partitions without any rows contribute nothing and break nothing (3 row blocks in 6 partitions). */
    @ParameterizedTest(name = "{0}, {1}")
    @MethodSource("placementsAndRoutings")
    void emptyPartitionsAreHarmless(ExpertPlacement placement, RoutingMode routing) {
        JavaSparkContext sc = SparkTestContext.get();
        JavaRDD<RowBlock> data = sc.parallelize(regressionBlocks(3), 6);
        List<Integer> nonEmpty = data.mapPartitions(it -> java.util.Collections.singletonList(it.hasNext() ? 1 : 0).iterator()).collect();
        assertEquals(3, nonEmpty.stream().filter(n -> n == 0).count(), "expected three empty partitions: " + nonEmpty);
        assertStepsMatchReference(sc, true, data, 2, placement, routing);
    }

    /**
     * Example weights (zeros among them): every partition's weight sum travels with its balance
     * statistics, and the batch's sum, not its size, normalises the task loss, as in the reference.
     */
    @ParameterizedTest(name = "{0} partitions, {1}, {2}")
    @MethodSource("weightedConfigurations")
    void weightedStepsMatchTheReference(int partitions, ExpertPlacement placement, RoutingMode routing) {
        JavaSparkContext sc = SparkTestContext.get();
        assertStepsMatchReference(sc, true, sc.parallelize(weighted(regressionBlocks(partitions)), partitions), 2, placement, routing, 3, 1);
    }

    static Stream<Arguments> weightedConfigurations() {
        List<Arguments> out = new ArrayList<>();
        for (int partitions : new int[]{1, 3}) {
            placementsAndRoutings().forEach(a -> out.add(Arguments.of(partitions, a.get()[0], a.get()[1])));
        }
        return out.stream();
    }

    /** The blocks with weights in [0, 3), every fifth row 0. */
    static List<RowBlock> weighted(List<RowBlock> blocks) {
        SplittableRandom r = new SplittableRandom(8);
        List<RowBlock> out = new ArrayList<>();
        int row = 0;
        for (RowBlock b : blocks) {
            float[] w = new float[b.size()];
            for (int i = 0; i < w.length; i++, row++) w[i] = row % 5 == 0 ? 0f : (float) (3 * r.nextDouble());
            out.add(b.withWeights(w));
        }
        return out;
    }

    static Stream<Arguments> placementsAndRoutings() {
        List<Arguments> out = new ArrayList<>();
        for (ExpertPlacement placement : ExpertPlacement.values()) {
            for (RoutingMode routing : RoutingMode.values()) out.add(Arguments.of(placement, routing));
        }
        return out.stream();
    }

    /** Two engine steps on {@code sc} against two reference steps (also used by LocalClusterEquivalenceTest). */
    static void assertStepsMatchReference(JavaSparkContext sc, String gating, int partitions, int shards,
                                          ExpertPlacement placement, RoutingMode routing) {
        boolean flat = gating.equals("flat");
        JavaRDD<RowBlock> data = sc.parallelize(flat ? regressionBlocks(partitions) : tokenBlocks(partitions), partitions);
        assertStepsMatchReference(sc, flat, data, shards, placement, routing);
    }

    private static void assertStepsMatchReference(JavaSparkContext sc, boolean flat, JavaRDD<RowBlock> data, int shards,
                                                  ExpertPlacement placement, RoutingMode routing) {
        assertStepsMatchReference(sc, flat, data, shards, placement, routing, 2, 1);
    }

    /**
     * Six steps without a lineage checkpoint: the sharded expert state recycles its parameter,
     * moment and gradient buffers from step 3 on (ExpertShard), and must still follow the reference.
     */
    @ParameterizedTest(name = "{0} routing, recycled expert buffers")
    @EnumSource(RoutingMode.class)
    void recycledExpertBuffersFollowTheReference(RoutingMode routing) {
        JavaSparkContext sc = SparkTestContext.get();
        assertStepsMatchReference(sc, true, sc.parallelize(regressionBlocks(3), 3), 2, ExpertPlacement.SHARDED, routing, 6, 100);
    }

    private static void assertStepsMatchReference(JavaSparkContext sc, boolean flat, JavaRDD<RowBlock> data, int shards,
                                                  ExpertPlacement placement, RoutingMode routing, int steps, int checkpointInterval) {
        MoENetwork net = flat ? regressionNetwork() : languageModelNetwork();
        TrainerConfig tc = new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(0.05, 3), 0.5, 11,
                Precision.F64);
        EngineConfig ec = new EngineConfig(routing, placement, shards, 24, tc, checkpointInterval, true);
        ReferenceTrainer reference = new ReferenceTrainer(net, tc);
        try (SparkMoETrainer engine = new SparkMoETrainer(sc, net, ec, data)) {
            for (int step = 1; step <= steps; step++) {
                Batch batch = engine.batchForStep(step);
                assertEquals(24, batch.size());
                ReferenceTrainer.StepOutcome expected = reference.step(batch);
                ModelParameters expectedGrad = expected.gradient().copy();
                StepReport actual = engine.trainStep();
                String where = "step " + step;
                assertArrayEquals(expected.result().expertBatchSizes(), actual.rowsPerExpert(), where + ": routing differs");
                assertClose(expected.result().meanTaskLoss(), actual.taskLoss(), where + " task loss");
                assertClose(expected.result().balance().importanceLoss(), actual.balance().importanceLoss(), where + " L_importance");
                assertClose(expected.result().balance().loadLoss(), actual.balance().loadLoss(), where + " L_load");
                assertClose(expected.gradientNorm(), actual.gradientNorm(), where + " gradient norm");
                // the reference clipped its gradient in place: compare the engine's unclipped one scaled alike
                double scale = expectedGrad.sumOfSquares() > 0 ? Math.sqrt(expectedGrad.sumOfSquares()) / expected.gradientNorm() : 1;
                assertClose(expectedGrad, engine.lastGradient(), scale, where + " gradient");
                assertClose(reference.state().params(), engine.snapshot().params(), 1, where + " parameters");
            }
            assertTrue(engine.lastGradient().shared().flat().sumOfSquares() > 0);
        }
    }

    static MoENetwork regressionNetwork() {
        int d = 6;
        return new MoENetwork(new DenseProjection(4, d),
                new MoELayer(NoisyTopKGating.noisyTopK(d, 8, 2), new Expert(d, 5), true, BalanceWeights.PAPER),
                new SquaredErrorHead(d, 2));
    }

    static MoENetwork languageModelNetwork() {
        int d = 6, vocab = 13;
        return new MoENetwork(new TokenContextEmbedding(vocab, 2, 4, d, TokenContextEmbedding.Mode.CONCAT),
                new MoELayer(new HierarchicalGating(d, 3, 3, 2, 2, true), new Expert(d, 5), false, new BalanceWeights(0.2, 0.3)),
                new SoftmaxCrossEntropyHead(d, vocab));
    }

    static List<RowBlock> regressionBlocks(int partitions) {
        SplittableRandom r = new SplittableRandom(5);
        return split(partitions, 1000, (ids, n) -> {
            float[] f = new float[n * 4];
            float[] t = new float[n * 2];
            for (int i = 0; i < f.length; i++) f[i] = (float) r.nextGaussian();
            for (int i = 0; i < t.length; i++) t[i] = (float) r.nextGaussian();
            return RowBlock.ofFeatures(ids, 4, f, 2, t);
        });
    }

    static List<RowBlock> tokenBlocks(int partitions) {
        SplittableRandom r = new SplittableRandom(6);
        return split(partitions, 0, (ids, n) -> {
            int[] tokens = new int[n * 2];
            int[] labels = new int[n];
            for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(13);
            for (int i = 0; i < n; i++) labels[i] = r.nextInt(13);
            return RowBlock.ofTokens(ids, 2, tokens, labels);
        });
    }

    /** 61 examples with ids from firstId, split unevenly over the partitions (the last one gets the remainder). */
    private static List<RowBlock> split(int partitions, long firstId, java.util.function.BiFunction<long[], Integer, RowBlock> block) {
        int total = 61;
        List<RowBlock> blocks = new ArrayList<>();
        long id = firstId;
        for (int p = 0; p < partitions; p++) {
            int n = total / partitions + (p == partitions - 1 ? total % partitions : 0);
            long[] ids = new long[n];
            for (int i = 0; i < n; i++) ids[i] = id++;
            blocks.add(block.apply(ids, n));
        }
        return blocks;
    }

    static void assertClose(double expected, double actual, String what) {
        assertEquals(expected, actual, TOL * Math.max(Math.abs(expected), 1e-12), what);
    }

    static void assertClose(ModelParameters expected, ModelParameters actual, double scaleActual, String what) {
        assertClose(expected.shared().flat(), actual.shared().flat(), scaleActual, what + " shared");
        assertEquals(expected.experts().length, actual.experts().length);
        for (int e = 0; e < expected.experts().length; e++) {
            assertClose(expected.experts()[e].flat(), actual.experts()[e].flat(), scaleActual, what + " expert " + e);
        }
    }

    static void assertClose(Matrix expected, Matrix actual, double scaleActual, String what) {
        double norm = Math.sqrt(expected.sumOfSquares() / Math.max(1, expected.size()));
        for (int i = 0; i < expected.size(); i++) {
            double a = expected.getFlat(i);
            double b = actual.getFlat(i) * scaleActual;
            double tol = TOL * Math.max(Math.abs(a), Math.abs(b)) + 1e-12 * norm;
            int at = i;
            assertTrue(Math.abs(a - b) <= tol, () -> what + " element " + at + ": expected " + a + ", got " + b);
        }
    }
}
