package org.sparkmoe.core.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.gating.BalanceWeights;

/**
 * The MoE learns a mixture of regimes: close to the noise floor and better than a dense network
 * with the same compute per example; the balancing losses keep the load even, and without them the
 * gate concentrates on a few experts (paper appendix A, table 6). Thresholds sit at a margin from
 * what this exact run measured (seeded, so it repeats): noise floor 0.020; MoE w=0.1 held-out loss
 * 0.075, CV(Load) 0.08, max/mean load 1.10; MoE w=0 CV(Importance) 1.01, max/mean load 1.81;
 * dense (one expert of hidden k*h) 0.114.
 */
class LearningTest {
    private static final int STEPS = 2000;
    private static final int EXPERTS = 8;

    @Test
    void moeLearnsTheMixtureBeatsDenseAndBalanceLossesPreventCollapse() {
        double floor = Quickstart.DATA.noiseFloor();
        Quickstart.Outcome balanced = Quickstart.train(Quickstart.moe(EXPERTS, BalanceWeights.PAPER), STEPS, 1);
        Quickstart.Outcome unbalanced = Quickstart.train(Quickstart.moe(EXPERTS, BalanceWeights.NONE), STEPS, 1);
        Quickstart.Outcome dense = Quickstart.train(Quickstart.dense(), STEPS, 1);
        String report = "noise floor " + floor + "\nMoE w=0.1: " + balanced + "\nMoE w=0:   " + unbalanced + "\ndense:     " + dense;
        // a model that ignored the regimes would sit near the variance of A_r x across regimes (>> 1)
        assertTrue(balanced.heldOutLoss() < 6 * floor, "MoE is not near the noise floor\n" + report);
        assertTrue(balanced.heldOutLoss() < 0.85 * dense.heldOutLoss(), "MoE does not beat dense at equal compute\n" + report);
        assertTrue(balanced.cvLoad() < 0.25 && balanced.maxOverMeanLoad() < 1.5, "balance losses did not balance\n" + report);
        assertTrue(unbalanced.cvImportance() > 0.6 && unbalanced.cvImportance() > 4 * balanced.cvImportance(),
                "without balance losses the gate should concentrate on few experts\n" + report);
        assertTrue(unbalanced.maxOverMeanLoad() > balanced.maxOverMeanLoad() + 0.3, report);
    }
}
