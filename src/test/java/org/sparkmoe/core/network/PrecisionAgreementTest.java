package org.sparkmoe.core.network;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
 * The float32 hot path computes the same step as the float64 reference: same routing, objective
 * and gradients within float rounding.
 */
class PrecisionAgreementTest {

    @Test
    void float32StepAgreesWithFloat64() {
        int d = 12, vocab = 30, context = 3, m = 64;
        MoENetwork net = new MoENetwork(new TokenContextEmbedding(vocab, context, 8, d, TokenContextEmbedding.Mode.SUM),
                new MoELayer(NoisyTopKGating.noisyTopK(d, 6, 2), new Expert(d, 16), true, BalanceWeights.PAPER),
                new SoftmaxCrossEntropyHead(d, vocab));
        SplittableRandom r = new SplittableRandom(8);
        int[] tokens = new int[m * context];
        int[] labels = new int[m];
        long[] ids = new long[m];
        for (int i = 0; i < tokens.length; i++) tokens[i] = r.nextInt(vocab);
        for (int i = 0; i < m; i++) {
            labels[i] = r.nextInt(vocab);
            ids[i] = i;
        }
        Batch batch = Batch.ofTokens(m, ids, tokens, context, labels);
        ModelParameters p64 = net.initialise(Precision.F64, 3);
        Matrix wg = p64.shared().get("gate.w_gate");
        for (int i = 0; i < wg.size(); i++) wg.setFlat(i, r.nextGaussian());
        ModelParameters p32 = p64.to(Precision.F32);
        GateNoise noise = GateNoise.training(5, 1);

        ModelParameters g64 = p64.zerosLike();
        ModelParameters g32 = p32.zerosLike();
        MoENetwork.Workspace w64 = net.newWorkspace(Precision.F64);
        MoENetwork.Workspace w32 = net.newWorkspace(Precision.F32);
        MoENetwork.StepResult r64 = net.forwardBackward(p64, batch, noise, w64, g64);
        MoENetwork.StepResult r32 = net.forwardBackward(p32, batch, noise, w32, g32);

        assertArrayEquals(r64.expertBatchSizes(), r32.expertBatchSizes(), "routing differs between precisions");
        assertEquals(r64.objective(), r32.objective(), 1e-5 * Math.abs(r64.objective()));
        assertClose(g64.shared().flat(), g32.shared().flat(), "shared");
        for (int e = 0; e < g64.experts().length; e++) {
            assertClose(g64.experts()[e].flat(), g32.experts()[e].flat(), "expert " + e);
        }
    }

    private static void assertClose(Matrix a, Matrix b, String what) {
        double scale = Math.sqrt(a.sumOfSquares() / Math.max(1, a.size()));
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.getFlat(i), b.getFlat(i), 1e-3 * scale + 1e-6, what + " element " + i);
        }
    }
}
