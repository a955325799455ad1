package org.sparkmoe.core.recurrent;

import org.sparkmoe.core.gating.BalanceResult;

/**
 * The objective's parts for one window of a {@link RecurrentLanguageModel}.
 *
 * @param tokens           rows with a target (the loss is their mean)
 * @param taskLossSum      summed next-token cross-entropy, nats
 * @param balance          the MoE's balancing losses and table-6 columns; null without an MoE
 * @param expertBatchSizes rows each expert received (empty without an MoE)
 */
public record SequenceStepResult(int tokens, double taskLossSum, BalanceResult balance, int[] expertBatchSizes) {

    public double meanTaskLoss() {
        return tokens == 0 ? 0 : taskLossSum / tokens;
    }

    /** exp(mean cross-entropy): per-token perplexity of this window. */
    public double perplexity() {
        return Math.exp(meanTaskLoss());
    }

    /** mean task loss + L_importance + L_load: what the gradient is of. */
    public double objective() {
        return meanTaskLoss() + (balance == null ? 0 : balance.importanceLoss() + balance.loadLoss());
    }
}
