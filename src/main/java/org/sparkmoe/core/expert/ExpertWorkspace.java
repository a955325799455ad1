package org.sparkmoe.core.expert;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;

/**
 * Reusable buffers for one expert's forward and backward pass: hidden activations and their
 * gradient. Grows to the largest expert batch seen and is then reused, so a training step
 * allocates nothing per token.
 */
public final class ExpertWorkspace {
    private final Precision precision;
    private final int hiddenSize;
    private Matrix hidden;
    private Matrix hiddenGradient;

    public ExpertWorkspace(Precision precision, int hiddenSize) {
        this.precision = precision;
        this.hiddenSize = hiddenSize;
    }

    /** The hidden activations of the first m rows (valid between forward and backward). */
    public Matrix hidden(int m) {
        if (hidden == null || hidden.rows() < m) {
            hidden = precision.zeros(grow(hidden, m), hiddenSize);
        }
        return hidden.topRows(m);
    }

    Matrix hiddenGradient(int m) {
        if (hiddenGradient == null || hiddenGradient.rows() < m) {
            hiddenGradient = precision.zeros(grow(hiddenGradient, m), hiddenSize);
        }
        return hiddenGradient.topRows(m);
    }

    static int grow(Matrix current, int needed) {
        int have = current == null ? 0 : current.rows();
        return Math.max(needed, Math.max(16, have + (have >> 1)));
    }
}
