package org.sparkmoe.core.network;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;

/**
 * Example weights on the task loss ({@code sum_i w_i L_i / sum_i w_i}): weight 2 is the row twice,
 * weight 0 is the row removed, all-ones is no weights; the balance losses stay unweighted (the
 * choice {@link MoENetwork} documents). Gating without noise, so a duplicated row is gated like its
 * original.
 */
class WeightedLossTest {
    private static final Precision F64 = Precision.F64;
    private static final int D = 5, D_IN = 3, M = 10, CLASSES = 4;

    private final SplittableRandom random = new SplittableRandom(12);
    private final Matrix features = NetTestUtil.random(F64, M, D_IN, random);
    private final Matrix targets = NetTestUtil.random(F64, M, 2, random);
    private final int[] labels = new int[M];

    WeightedLossTest() {
        for (int i = 0; i < M; i++) labels[i] = random.nextInt(CLASSES);
    }

    private static MoENetwork network(boolean classification, BalanceWeights balance) {
        return new MoENetwork(new DenseProjection(D_IN, D),
                new MoELayer(NoisyTopKGating.noisyTopK(D, 4, 2), new Expert(D, 3), false, balance),
                classification ? new SoftmaxCrossEntropyHead(D, CLASSES) : new SquaredErrorHead(D, 2));
    }

    /** Rows {@code rows} of the test data, in that order (a row may repeat). */
    private Batch rows(boolean classification, int... rows) {
        Matrix f = F64.zeros(rows.length, D_IN);
        Matrix t = F64.zeros(rows.length, 2);
        int[] l = new int[rows.length];
        long[] ids = new long[rows.length];
        for (int r = 0; r < rows.length; r++) {
            for (int j = 0; j < D_IN; j++) f.set(r, j, features.get(rows[r], j));
            for (int j = 0; j < 2; j++) t.set(r, j, targets.get(rows[r], j));
            l[r] = labels[rows[r]];
            ids[r] = 100 + r;
        }
        return classification ? Batch.ofFeatures(rows.length, ids, f, l) : Batch.ofFeatures(rows.length, ids, f, t);
    }

    private static int[] all() {
        int[] r = new int[M];
        for (int i = 0; i < M; i++) r[i] = i;
        return r;
    }

    private record Pass(MoENetwork.StepResult result, ModelParameters grad) {
    }

    private static Pass pass(MoENetwork net, Batch batch) {
        ModelParameters params = net.initialise(F64, 5);
        SplittableRandom r = new SplittableRandom(9);
        NetTestUtil.fillRandom(params.shared().get("gate.w_gate"), 0.8, r);
        ModelParameters grad = params.zerosLike();
        MoENetwork.StepResult result = net.forwardBackward(params, batch, GateNoise.none(), net.newWorkspace(F64), grad);
        return new Pass(result, grad);
    }

    private static void assertSameGradient(ModelParameters expected, ModelParameters actual, String what) {
        assertTrue(NetTestUtil.maxRelativeDifference(actual.shared().flat(), expected.shared().flat()) < 1e-12, what + ": shared gradient");
        for (int e = 0; e < expected.experts().length; e++) {
            double scale = Math.sqrt(expected.experts()[e].flat().sumOfSquares());
            if (scale == 0) {
                assertTrue(NetTestUtil.allZero(actual.experts()[e].flat()), what + ": expert " + e);
            } else {
                assertTrue(NetTestUtil.maxRelativeDifference(actual.experts()[e].flat(), expected.experts()[e].flat()) < 1e-12,
                        what + ": expert " + e + " gradient");
            }
        }
    }

    @Test
    void weightTwoIsTheRowTwice() {
        for (boolean classification : new boolean[] {true, false}) {
            MoENetwork net = network(classification, BalanceWeights.NONE);
            float[] w = new float[M];
            java.util.Arrays.fill(w, 1f);
            w[4] = 2f;
            Pass weighted = pass(net, rows(classification, all()).withWeights(w));
            int[] twice = java.util.Arrays.copyOf(all(), M + 1);
            twice[M] = 4;
            Pass duplicated = pass(net, rows(classification, twice));
            assertEquals(M + 1, weighted.result().weightSum(), 0.0);
            assertEquals(duplicated.result().meanTaskLoss(), weighted.result().meanTaskLoss(), 1e-12);
            assertSameGradient(duplicated.grad(), weighted.grad(), classification ? "classification" : "regression");
            Pass unweighted = pass(net, rows(classification, all()));
            assertNotEquals(unweighted.result().meanTaskLoss(), weighted.result().meanTaskLoss(), "the weight changes the loss");
        }
    }

    @Test
    void weightZeroIsTheRowRemoved() {
        for (boolean classification : new boolean[] {true, false}) {
            MoENetwork net = network(classification, BalanceWeights.NONE);
            float[] w = new float[M];
            java.util.Arrays.fill(w, 1.5f);
            w[2] = 0f;
            w[6] = 0f;
            Pass weighted = pass(net, rows(classification, all()).withWeights(w));
            float[] rest = new float[M - 2];
            java.util.Arrays.fill(rest, 1.5f);
            Pass removed = pass(net, rows(classification, 0, 1, 3, 4, 5, 7, 8, 9).withWeights(rest));
            assertEquals(removed.result().meanTaskLoss(), weighted.result().meanTaskLoss(), 1e-12);
            assertSameGradient(removed.grad(), weighted.grad(), classification ? "classification" : "regression");
            // a constant weight is no weight: the weighted mean is the plain mean
            Pass plain = pass(net, rows(classification, 0, 1, 3, 4, 5, 7, 8, 9));
            assertEquals(plain.result().meanTaskLoss(), removed.result().meanTaskLoss(), 1e-12);
            assertSameGradient(plain.grad(), removed.grad(), "constant weights");
        }
    }

    @Test
    void allOnesIsNoWeights() {
        for (boolean classification : new boolean[] {true, false}) {
            MoENetwork net = network(classification, new BalanceWeights(0.2, 0.3));
            float[] ones = new float[M];
            java.util.Arrays.fill(ones, 1f);
            Pass weighted = pass(net, rows(classification, all()).withWeights(ones));
            Pass plain = pass(net, rows(classification, all()));
            assertEquals(plain.result().objective(), weighted.result().objective(), 1e-14);
            assertSameGradient(plain.grad(), weighted.grad(), "all ones");
        }
    }

    /** The documented choice: a zero-weight row adds nothing to the task loss but is still counted by Importance and Load. */
    @Test
    void balanceLossesAreUnweighted() {
        MoENetwork net = network(true, new BalanceWeights(0.5, 0.5));
        float[] w = new float[M];
        java.util.Arrays.fill(w, 1f);
        w[2] = 0f;
        Pass weighted = pass(net, rows(true, all()).withWeights(w));
        Pass removed = pass(net, rows(true, 0, 1, 3, 4, 5, 6, 7, 8, 9));
        Pass plain = pass(net, rows(true, all()));
        assertEquals(removed.result().meanTaskLoss(), weighted.result().meanTaskLoss(), 1e-12);
        assertEquals(plain.result().balance().importanceLoss(), weighted.result().balance().importanceLoss(), 0.0);
        assertEquals(plain.result().balance().loadLoss(), weighted.result().balance().loadLoss(), 0.0);
        assertNotEquals(removed.result().balance().importanceLoss(), weighted.result().balance().importanceLoss());
    }

    @Test
    void allZeroWeightsHaveNoTaskGradient() {
        MoENetwork net = network(false, BalanceWeights.NONE);
        Pass zero = pass(net, rows(false, all()).withWeights(new float[M]));
        assertEquals(0, zero.result().meanTaskLoss(), 0.0);
        assertTrue(NetTestUtil.allZero(zero.grad().shared().flat()));
    }

    @Test
    void badWeightsAreRejectedNamingTheRow() {
        Batch b = rows(true, all());
        for (float bad : new float[] {-1f, Float.NaN, Float.POSITIVE_INFINITY}) {
            float[] w = new float[M];
            java.util.Arrays.fill(w, 1f);
            w[5] = bad;
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> b.withWeights(w));
            assertTrue(e.getMessage().contains("row 5") && e.getMessage().contains(String.valueOf(bad)), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> RowBlock.ofFeatures(NetTestUtil.ids(M), 1, new float[M], new int[M]).withWeights(w));
        }
    }

    /** Weights survive the row block round trip and a step's row selection, in the selected order. */
    @Test
    void rowBlocksCarryWeightsIntoBatches() {
        float[] w = {0.5f, 2f, 0f};
        RowBlock weighted = RowBlock.ofFeatures(new long[] {1, 2, 3}, 1, new float[] {1, 2, 3}, new int[] {0, 1, 0}).withWeights(w);
        RowBlock plain = RowBlock.ofFeatures(new long[] {4, 5}, 1, new float[] {4, 5}, new int[] {1, 1});
        Batch b = RowBlock.select(new RowBlock[] {weighted, plain}, new int[] {1, 0, 0}, new int[] {0, 2, 1}, 0, 3, F64);
        assertEquals(1f, b.weights()[0]);
        assertEquals(0f, b.weights()[1]);
        assertEquals(2f, b.weights()[2]);
        assertEquals(3.0, b.weightSum(), 0.0);
        assertEquals(null, RowBlock.select(new RowBlock[] {plain}, new int[] {0}, new int[] {1}, 0, 1, F64).weights());
        assertEquals(2f, RowBlock.of(b).weights()[2]);
        assertEquals(0f, b.slice(1, 2).weights()[0]);
    }
}
