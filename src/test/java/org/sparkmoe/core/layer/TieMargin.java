package org.sparkmoe.core.layer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.gating.HierarchicalGating;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.param.Parameters;

/**
 * Central differences are only valid where the top-k selection does not change under a step of
 * 1e-5: checks that the noisy logits around the k-th rank are well separated for the fixture.
 */
final class TieMargin {
    static final double MIN_GAP = 1e-3;

    private TieMargin() {
    }

    static void assertNoNearTies(String name, MoELayer layer, Parameters shared, Parameters[] experts, Matrix x,
                                 long[] ids, GateNoise noise) {
        GatingState gs = layer.newWorkspace(x.precision()).gate();
        if (layer.gating() instanceof NoisyTopKGating g && gs instanceof NoisyTopKGating.State s) {
            double[] stats = new double[g.statsSize()];
            g.forward(shared, x, ids, noise, s, stats);
            for (int r = 0; r < x.rows(); r++) {
                double[] h = new double[g.numExperts()];
                for (int i = 0; i < h.length; i++) h[i] = s.noisyLogit(r, i);
                java.util.Arrays.sort(h);
                for (int i = 1; i < h.length; i++) {
                    double gap = h[i] - h[i - 1];
                    int r0 = r;
                    assertTrue(gap > MIN_GAP, () -> name + ": near tie in noisy logits of row " + r0 + " (gap " + gap
                            + "); pick another fixture seed");
                }
            }
        } else if (!(layer.gating() instanceof HierarchicalGating)) {
            throw new IllegalStateException("unknown gating");
        }
    }
}
