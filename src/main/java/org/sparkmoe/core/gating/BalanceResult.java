package org.sparkmoe.core.gating;

/**
 * The balancing losses of one batch (paper section 4, appendix A) and the columns of the paper's
 * appendix table: CV(Importance), CV(Load), max(Load)/mean(Load).
 *
 * @param importanceLoss  w_importance * CV(Importance)^2
 * @param loadLoss        w_load * CV(Load)^2
 * @param importance      Importance(X) per leaf expert
 * @param load            Load(X) per leaf expert (the smooth estimator when training with noise,
 *                        otherwise the count of rows routed to it)
 * @param statsGradient   d(importanceLoss + loadLoss) / d(statistics), to hand to the backward pass
 */
public record BalanceResult(double importanceLoss, double loadLoss, double[] importance, double[] load,
                            double[] statsGradient) implements java.io.Serializable {

    public double cvImportance() {
        return Math.sqrt(CoefficientOfVariation.squared(importance, 0, importance.length));
    }

    public double cvLoad() {
        return Math.sqrt(CoefficientOfVariation.squared(load, 0, load.length));
    }

    /** max(Load) / mean(Load): 1 when perfectly balanced. */
    public double maxOverMeanLoad() {
        double max = 0, sum = 0;
        for (double v : load) {
            max = Math.max(max, v);
            sum += v;
        }
        return sum == 0 ? 0 : max / (sum / load.length);
    }
}
