package org.sparkmoe.core.network;

import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The layer above the MoE layer with its loss (docs/DESIGN.md section 5): softmax + cross-entropy over
 * classes or a vocabulary, or linear + squared error. The loss of a global batch of B examples is
 * the mean over examples; a partition holding part of it passes {@code lossScale = 1/B} so that
 * partition gradients simply add up.
 */
public interface OutputHead {

    /** Adds this head's tensors to the shared layout. */
    void declare(ParameterLayout.Builder layout);

    void initialise(Parameters p, SplittableRandom random);

    /** Width of the prediction rows: number of classes, or of regression outputs. */
    int outputDim();

    /**
     * Forward, loss and backward in one pass over {@code y} (m x d, the MoE layer's output).
     * Returns the <em>sum</em> of per-example losses (unscaled); writes {@code lossScale} times
     * dLoss/dy into {@code dY} and accumulates {@code lossScale} times the head's parameter
     * gradients into {@code grad}.
     */
    double lossAndGradient(Parameters p, Matrix y, Batch batch, double lossScale, Matrix dY, Parameters grad);

    /** Predictions for {@code y}: class probabilities (m x classes) or values (m x outputs). */
    void predict(Parameters p, Matrix y, Matrix out);
}
