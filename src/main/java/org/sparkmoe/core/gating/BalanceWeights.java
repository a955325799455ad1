package org.sparkmoe.core.gating;

import java.io.Serializable;

/**
 * w_importance and w_load, the hand-tuned scales of the balancing losses (paper eq. 7 and 11;
 * 0.1 each for the paper's language models).
 */
public record BalanceWeights(double importance, double load) implements Serializable {
    public BalanceWeights {
        if (!(importance >= 0) || !(load >= 0) || Double.isInfinite(importance) || Double.isInfinite(load)) {
            throw new IllegalArgumentException("balance weights must be finite and >= 0, got w_importance="
                    + importance + ", w_load=" + load);
        }
    }

    public static final BalanceWeights NONE = new BalanceWeights(0, 0);
    public static final BalanceWeights PAPER = new BalanceWeights(0.1, 0.1);
}
