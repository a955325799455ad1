package org.sparkmoe.ml;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

import org.sparkmoe.app.TrainingHistory;

/**
 * What a fit did, step by step (from the training loop's {@link TrainingHistory} listener): the
 * objective (task loss plus the balancing losses, paper section 4), its parts, and the balance
 * columns of the paper's appendix table: CV(Importance), CV(Load) and max/mean load. When the
 * estimator was given a validation set ({@code validationIndicatorCol}) it also holds the fitted
 * model's metrics on those held-out rows ({@link #validationMetrics()}). Like MLlib's
 * {@code MultilayerPerceptronClassificationModel.summary}: {@link #objectiveHistory()} and
 * {@link #totalIterations()}.
 */
public final class MoETrainingSummary implements java.io.Serializable {
    private static final long serialVersionUID = 1L;

    private final TrainingHistory history;
    private final Map<String, Double> validation;

    MoETrainingSummary(TrainingHistory history, Map<String, Double> validation) {
        this.history = history;
        this.validation = Collections.unmodifiableMap(new LinkedHashMap<>(validation));
    }

    /** Steps trained by this fit (a fit resumed from a checkpoint counts only its own). */
    public int totalIterations() {
        return history.steps();
    }

    /** The step this fit started at: 0, or the step of the checkpoint it resumed. */
    public long firstStep() {
        return history.firstStep();
    }

    /** The step number of each entry of the per-step arrays. */
    public long[] steps() {
        return history.stepNumbers();
    }

    /** Per step: task loss + importance loss + load loss, on that step's batch. */
    public double[] objectiveHistory() {
        return history.objective();
    }

    /** Per step: the task loss (mean cross-entropy or half squared error, weighted by weightCol when set) on that step's batch. */
    public double[] taskLoss() {
        return history.taskLoss();
    }

    /** Per step: w_importance * CV(Importance)^2 (paper eq. 7). */
    public double[] importanceLoss() {
        return history.importanceLoss();
    }

    /** Per step: w_load * CV(Load)^2 (paper eq. 11). */
    public double[] loadLoss() {
        return history.loadLoss();
    }

    public double[] cvImportance() {
        return history.cvImportance();
    }

    public double[] cvLoad() {
        return history.cvLoad();
    }

    /** Per step: max(Load) / mean(Load), 1 when perfectly balanced. */
    public double[] maxOverMeanLoad() {
        return history.maxOverMeanLoad();
    }

    /**
     * The fitted model's metrics on the held-out rows (classifier: logLoss, accuracy, f1; regressor:
     * rmse, mae, r2; language model: perplexity); empty without a validation set. With weightCol set they
     * are weighted by the held-out rows' weights, as {@link #taskLoss()} is by the training rows'.
     */
    public Map<String, Double> validationMetrics() {
        return validation;
    }

    @Override
    public String toString() {
        double[] loss = taskLoss();
        return "MoETrainingSummary(steps " + firstStep() + ".." + (firstStep() + totalIterations()) + ", last task loss "
                + (loss.length == 0 ? "n/a" : String.format(java.util.Locale.ROOT, "%.4f", loss[loss.length - 1]))
                + (validation.isEmpty() ? "" : ", validation " + validation) + ")";
    }
}
