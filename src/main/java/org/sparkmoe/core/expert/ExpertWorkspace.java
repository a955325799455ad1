package org.sparkmoe.core.expert;

import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;

/**
 * Reusable buffers for one expert's forward and backward pass: hidden activations and their
 * gradient. Grows to the largest expert batch seen and is then reused, so a training step
 * allocates nothing per token.
 */
public final class ExpertWorkspace implements java.io.Serializable {
    private final Precision precision;
    private final int hiddenSize;
    private Matrix hidden;
    private Matrix hiddenGradient;
    /** Where the hidden gradient lives when it is shared ({@link #sharingGradientOf}); null: here. */
    private final ExpertWorkspace gradientOwner;

    public ExpertWorkspace(Precision precision, int hiddenSize) {
        this(precision, hiddenSize, null);
    }

    private ExpertWorkspace(Precision precision, int hiddenSize, ExpertWorkspace gradientOwner) {
        this.precision = precision;
        this.hiddenSize = hiddenSize;
        this.gradientOwner = gradientOwner;
    }

    /**
     * A workspace with hidden activations of its own and the hidden gradient buffer of {@code owner}.
     * The gradient is only alive within one {@code Expert.backward}, so experts whose backward passes run
     * one after another can share it: one buffer that stays in cache instead of one per expert, each
     * written once and read once a step.
     */
    public static ExpertWorkspace sharingGradientOf(ExpertWorkspace owner) {
        return new ExpertWorkspace(owner.precision, owner.hiddenSize, owner);
    }

    /**
     * A workspace over caller-owned buffers of at least m rows (e.g. views into an expert shard's
     * activation arena), so that many experts share a few large arrays.
     */
    public static ExpertWorkspace over(Matrix hidden, Matrix hiddenGradient) {
        if (hidden.cols() != hiddenGradient.cols() || hidden.precision() != hiddenGradient.precision()) {
            throw new IllegalArgumentException("hidden " + hidden.rows() + "x" + hidden.cols() + " and its gradient "
                    + hiddenGradient.rows() + "x" + hiddenGradient.cols() + " differ in shape or precision");
        }
        ExpertWorkspace ws = new ExpertWorkspace(hidden.precision(), hidden.cols());
        ws.hidden = hidden;
        ws.hiddenGradient = hiddenGradient;
        return ws;
    }

    /** The hidden activations of the first m rows (valid between forward and backward). */
    public Matrix hidden(int m) {
        hidden = Buffers.ensureRows(hidden, precision, m, hiddenSize);
        return hidden.topRows(m);
    }

    Matrix hiddenGradient(int m) {
        if (gradientOwner != null) {
            return gradientOwner.hiddenGradient(m);
        }
        hiddenGradient = Buffers.ensureRows(hiddenGradient, precision, m, hiddenSize);
        return hiddenGradient.topRows(m);
    }
}
