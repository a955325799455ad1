package org.sparkmoe.core.layer;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceResult;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.Gating;
import org.sparkmoe.core.gating.HierarchicalGating;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.testing.GradientCheck;

/**
 * Central-difference checks of every gradient of the MoE layer in double precision: gating weights
 * (W_g, W_noise), every expert tensor and the input x, for the task loss (a fixed random linear
 * functional of y), L_importance and L_load on their own, flat and hierarchical.
 */
class MoELayerGradientTest {
    private static final Precision F64 = Precision.F64;
    private static final int D = 5, H = 4, M = 14;

    /** Task loss only, importance only, load only. */
    private static final double[][] LOSS_MIX = {{1, 0, 0}, {0, 0.7, 0}, {0, 0, 0.9}};

    @Test
    void noisyTopKGradients() {
        for (double[] mix : LOSS_MIX) {
            check("noisyTopK" + Arrays.toString(mix), NoisyTopKGating.noisyTopK(D, 6, 2), mix, true, 11);
        }
    }

    @Test
    void topKWithKEqualsThreeOfSevenResidual() {
        check("topK3of7-residual", NoisyTopKGating.noisyTopK(D, 7, 3), new double[]{1, 0.5, 0.5}, true, 12);
    }

    @Test
    void softmaxGatingGradients() {
        check("softmax", NoisyTopKGating.softmax(D, 4), new double[]{1, 0.3, 0}, false, 13);
    }

    @Test
    void hierarchicalGradients() {
        for (double[] mix : LOSS_MIX) {
            check("hierarchical" + Arrays.toString(mix), new HierarchicalGating(D, 3, 4, 2, 2, true), mix, false, 14);
        }
    }

    private static void check(String name, Gating gating, double[] mix, boolean residual, long seed) {
        Expert expert = new Expert(D, H);
        MoELayer layer = new MoELayer(gating, expert, residual, new BalanceWeights(mix[1], mix[2]));
        SplittableRandom random = new SplittableRandom(seed);
        ParameterLayout.Builder b = ParameterLayout.builder();
        gating.declare(b);
        Parameters shared = b.build().allocate(F64);
        // non-zero gating weights so that gradients are informative (zero init makes all logits equal)
        shared.fill(() -> random.nextGaussian() * 0.8);
        int n = gating.numExperts();
        Parameters[] experts = new Parameters[n];
        for (int e = 0; e < n; e++) {
            experts[e] = expert.initialise(F64, random);
            Parameters ex = experts[e];
            ex.fill(() -> random.nextGaussian() * 0.5);
        }
        Matrix x = F64.zeros(M, D);
        Matrix readout = F64.zeros(M, D);
        for (int i = 0; i < x.size(); i++) {
            x.setFlat(i, random.nextGaussian());
            readout.setFlat(i, random.nextGaussian());
        }
        long[] ids = new long[M];
        for (int r = 0; r < M; r++) ids[r] = 1000 + 7L * r;
        GateNoise noise = GateNoise.training(seed, 3);
        MoELayer.Workspace ws = layer.newWorkspace(F64);
        Matrix y = F64.zeros(M, D);

        DoubleSupplier loss = () -> {
            double[] stats = new double[gating.statsSize()];
            layer.forward(shared, experts, x, ids, noise, ws, y, stats);
            BalanceResult br = layer.balance(stats);
            double task = 0;
            for (int i = 0; i < y.size(); i++) task += y.getFlat(i) * readout.getFlat(i);
            return mix[0] * task + br.importanceLoss() + br.loadLoss();
        };

        // analytic gradients
        double[] stats = new double[gating.statsSize()];
        layer.forward(shared, experts, x, ids, noise, ws, y, stats);
        BalanceResult br = layer.balance(stats);
        Matrix dY = readout.copy();
        dY.scale(mix[0]);
        Parameters sharedGrad = shared.zerosLike();
        Parameters[] expertGrads = new Parameters[n];
        for (int e = 0; e < n; e++) expertGrads[e] = experts[e].zerosLike();
        Matrix dx = F64.zeros(M, D);
        layer.backward(shared, experts, x, ws, dY, br.statsGradient(), sharedGrad, expertGrads, dx);

        TieMargin.assertNoNearTies(name, layer, shared, experts, x, ids, noise);

        GradientCheck.check(name + ".gate", shared, sharedGrad, loss, 400);
        assertTrue(GradientCheck.hasSignal(sharedGrad.flat()), name + ": gating gradient is all zero");
        GradientCheck.check(name + ".x", x, dx, loss, 400);
        if (mix[0] != 0) {
            boolean anyExpertSignal = false;
            for (int e = 0; e < n; e++) {
                GradientCheck.check(name + ".expert" + e, experts[e], expertGrads[e], loss, 200);
                anyExpertSignal |= GradientCheck.hasSignal(expertGrads[e].flat());
            }
            assertTrue(anyExpertSignal, name + ": expert gradients are all zero");
        }
    }
}
