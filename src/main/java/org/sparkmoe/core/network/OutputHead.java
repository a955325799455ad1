package org.sparkmoe.core.network;

import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The layer above the MoE layer with its loss (docs/DESIGN.md section 5): softmax + cross-entropy over
 * classes or a vocabulary, or linear + squared error. The loss of a global batch is the weighted
 * mean over its examples, {@code sum_i w_i L_i / sum_i w_i} (all {@code w_i = 1} without weights:
 * the plain mean over B examples); a partition holding part of it passes
 * {@code lossScale = 1 / sum_i w_i} of the whole batch ({@link #lossScale}) so that partition
 * gradients simply add up.
 */
public interface OutputHead {

    /** Adds this head's tensors to the shared layout. */
    void declare(ParameterLayout.Builder layout);

    void initialise(Parameters p, SplittableRandom random);

    /** Width of the prediction rows: number of classes, or of regression outputs. */
    int outputDim();

    /**
     * Forward, loss and backward in one pass over {@code y} (m x d, the MoE layer's output).
     * Returns the <em>weighted sum</em> {@code sum_i w_i L_i} of per-example losses (unscaled; the
     * weights are {@code batch}'s, 1 when it has none); writes {@code lossScale} times dLoss/dy
     * into {@code dY} and accumulates {@code lossScale} times the head's parameter gradients into
     * {@code grad}. A row of weight 0 adds nothing to either.
     */
    double lossAndGradient(Parameters p, Matrix y, Batch batch, double lossScale, Matrix dY, Parameters grad);

    /**
     * The {@code lossScale} of a batch whose weights sum to {@code normaliser}: its reciprocal, or 0
     * when it is 0 (a batch of only zero-weight rows has no task loss, so no task gradient).
     */
    static double lossScale(double normaliser) {
        return normaliser > 0 ? 1.0 / normaliser : 0.0;
    }

    /** Predictions for {@code y}: class probabilities (m x classes) or values (m x outputs). */
    void predict(Parameters p, Matrix y, Matrix out);
}
