package org.sparkmoe.engine;

import org.sparkmoe.core.network.RowBlock;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.apache.spark.api.java.JavaSparkContext;
import org.junit.jupiter.api.Test;
import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.DenseProjection;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.SquaredErrorHead;
import org.sparkmoe.core.train.TrainerConfig;

/**
 * The shrinking-batch problem (paper section 3.1) measured: with shuffle routing each expert's
 * batch is about k*B/n whatever the number of data partitions; with local routing it is about
 * k*B/(n*P) and shrinks as partitions are added.
 */
class ExpertBatchSizeTest {
    static final int N = 8, K = 2, B = 512;

    @Test
    void shuffleKeepsExpertBatchesAtKBOverNLocalRoutingShrinksThem() {
        double shuffle2 = meanExpertBatch(RoutingMode.SHUFFLE, 2);
        double shuffle8 = meanExpertBatch(RoutingMode.SHUFFLE, 8);
        double local2 = meanExpertBatch(RoutingMode.LOCAL, 2);
        double local8 = meanExpertBatch(RoutingMode.LOCAL, 8);
        String report = "mean expert batch: shuffle P=2 " + shuffle2 + ", P=8 " + shuffle8 + "; local P=2 " + local2 + ", P=8 " + local8;
        double expected = (double) K * B / N;
        // every expert is used at this size, so the shuffle mean is exactly k*B/n
        assertEquals(expected, shuffle2, 1e-9, report);
        assertEquals(expected, shuffle8, 1e-9, report);
        assertEquals(expected / 2, local2, expected / 2 * 0.25, report);
        assertEquals(expected / 8, local8, expected / 8 * 0.35, report);
        assertTrue(local8 < local2 / 2.5, report);
    }

    private static double meanExpertBatch(RoutingMode routing, int partitions) {
        JavaSparkContext sc = SparkTestContext.get();
        int d = 8;
        MoENetwork net = new MoENetwork(new DenseProjection(4, d),
                new MoELayer(NoisyTopKGating.noisyTopK(d, N, K), new Expert(d, 8), false, BalanceWeights.PAPER),
                new SquaredErrorHead(d, 1));
        TrainerConfig tc = TrainerConfig.paperDefaults(0.01, 10, 3);
        EngineConfig ec = EngineConfig.of(routing, ExpertPlacement.DRIVER, 2, B, tc);
        List<RowBlock> blocks = new ArrayList<>();
        SplittableRandom r = new SplittableRandom(1);
        int perPartition = 4096 / partitions;
        for (int p = 0; p < partitions; p++) {
            long[] ids = new long[perPartition];
            float[] f = new float[perPartition * 4];
            float[] t = new float[perPartition];
            for (int i = 0; i < perPartition; i++) ids[i] = (long) p * perPartition + i;
            for (int i = 0; i < f.length; i++) f[i] = (float) r.nextGaussian();
            for (int i = 0; i < t.length; i++) t[i] = (float) r.nextGaussian();
            blocks.add(RowBlock.ofFeatures(ids, 4, f, 1, t));
        }
        try (SparkMoETrainer engine = new SparkMoETrainer(sc, net, ec, sc.parallelize(blocks, partitions))) {
            double sum = 0;
            int steps = 3;
            for (int s = 0; s < steps; s++) {
                StepReport report = engine.trainStep();
                int used = 0;
                for (int c : report.rowsPerExpert()) used += c > 0 ? 1 : 0;
                assertEquals(N, used, "all experts should receive rows at this batch size");
                sum += report.meanExpertBatch();
            }
            return sum / steps;
        }
    }
}
