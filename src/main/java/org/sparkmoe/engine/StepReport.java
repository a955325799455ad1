package org.sparkmoe.engine;

import java.util.Map;

import org.sparkmoe.core.gating.BalanceResult;

/**
 * What one distributed step did: the objective's parts, the paper's balance columns, the expert
 * batch sizes actually run (per expert over all partitions with shuffle routing, per partition and
 * expert with local routing), throughput and where the time went (milliseconds per stage).
 */
public record StepReport(long step, int examples, double taskLoss, BalanceResult balance, int[] rowsPerExpert,
                         int minExpertBatch, int maxExpertBatch, double meanExpertBatch, double gradientNorm,
                         double learningRate, double seconds, Map<String, Double> timingsMillis) {

    public double examplesPerSecond() {
        return seconds > 0 ? examples / seconds : 0;
    }

    /** The line written to metrics.jsonl. */
    public org.sparkmoe.engine.metrics.StepMetrics toMetrics() {
        if (balance == null) { // a network without an MoE layer (the recurrent LSTM-LSTM baseline): no balance columns
            return new org.sparkmoe.engine.metrics.StepMetrics(step, examples, taskLoss, 0, 0, Double.NaN, Double.NaN, Double.NaN,
                    minExpertBatch, maxExpertBatch, examplesPerSecond(), timingsMillis);
        }
        return new org.sparkmoe.engine.metrics.StepMetrics(step, examples, taskLoss, balance.importanceLoss(), balance.loadLoss(),
                balance.cvImportance(), balance.cvLoad(), balance.maxOverMeanLoad(), minExpertBatch, maxExpertBatch,
                examplesPerSecond(), timingsMillis);
    }
}
