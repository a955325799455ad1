package org.sparkmoe.core.network;

import org.sparkmoe.core.linalg.Matrix;

/**
 * A block of examples in compact form (never one object per example): the inputs are either
 * token contexts ({@code size x context} token ids, language modelling) or dense feature rows; the
 * targets are either class ids (classification, next token) or dense rows (regression).
 * {@code exampleIds} are global ids: the gating noise of an example is a function of its id, so
 * it does not depend on how the data is partitioned.
 *
 * <p>Optional per-example weights (MLlib's {@code weightCol}): finite and {@code >= 0}, float32;
 * absent means every weight is 1 (no array is allocated). They weight the task loss only: the
 * objective's task term is {@code sum_i w_i L_i / sum_i w_i} ({@link #weightSum()} is the
 * normaliser), and the balance losses stay unweighted (see {@link MoENetwork}).
 */
public final class Batch implements java.io.Serializable {
    private final int size;
    private final long[] exampleIds;
    private final int[] tokens;
    private final int context;
    private final Matrix features;
    private final int[] labels;
    private final Matrix targets;
    private final float[] weights;

    private Batch(int size, long[] exampleIds, int[] tokens, int context, Matrix features, int[] labels, Matrix targets) {
        this(size, exampleIds, tokens, context, features, labels, targets, null);
    }

    private Batch(int size, long[] exampleIds, int[] tokens, int context, Matrix features, int[] labels, Matrix targets,
                  float[] weights) {
        if (exampleIds.length < size) {
            throw new IllegalArgumentException("exampleIds has " + exampleIds.length + " entries for " + size + " examples");
        }
        if (tokens != null && tokens.length < size * context) {
            throw new IllegalArgumentException("tokens has " + tokens.length + " ids for " + size + " x " + context);
        }
        if (features != null && features.rows() < size) {
            throw new IllegalArgumentException("features " + features + " has fewer rows than " + size);
        }
        if (labels != null && labels.length < size) {
            throw new IllegalArgumentException("labels has " + labels.length + " entries for " + size + " examples");
        }
        if (targets != null && targets.rows() < size) {
            throw new IllegalArgumentException("targets " + targets + " has fewer rows than " + size);
        }
        if (weights != null) checkWeights(weights, size);
        this.size = size;
        this.exampleIds = exampleIds;
        this.tokens = tokens;
        this.context = context;
        this.features = features == null ? null : features.topRows(size);
        this.labels = labels;
        this.targets = targets == null ? null : targets.topRows(size);
        this.weights = weights;
    }

    /**
     * Checks that the first {@code size} entries of {@code weights} are usable example weights
     * (finite, {@code >= 0}); the message names the first bad row.
     */
    public static void checkWeights(float[] weights, int size) {
        if (weights.length < size) {
            throw new IllegalArgumentException("weights has " + weights.length + " entries for " + size + " examples");
        }
        for (int r = 0; r < size; r++) {
            float w = weights[r];
            if (!(w >= 0) || w == Float.POSITIVE_INFINITY) {
                throw new IllegalArgumentException("weight " + w + " at row " + r + " must be finite and >= 0");
            }
        }
    }

    /** These examples with per-example {@code weights} (null: all 1); the arrays are shared, not copied. */
    public Batch withWeights(float[] weights) {
        return new Batch(size, exampleIds, tokens, context, features, labels, targets, weights);
    }

    /** No examples (e.g. a data partition that contributes no rows to a step). */
    public static Batch empty() {
        return new Batch(0, new long[0], null, 0, null, null, null);
    }

    /** Language-model examples: row r is the context {@code tokens[r*context .. (r+1)*context)} and next token {@code labels[r]}. */
    public static Batch ofTokens(int size, long[] exampleIds, int[] tokens, int context, int[] labels) {
        return new Batch(size, exampleIds, tokens, context, null, labels, null);
    }

    /** Feature-vector examples with class labels. */
    public static Batch ofFeatures(int size, long[] exampleIds, Matrix features, int[] labels) {
        return new Batch(size, exampleIds, null, 0, features, labels, null);
    }

    /** Feature-vector examples with real-valued targets. */
    public static Batch ofFeatures(int size, long[] exampleIds, Matrix features, Matrix targets) {
        return new Batch(size, exampleIds, null, 0, features, null, targets);
    }

    public int size() {
        return size;
    }

    public long[] exampleIds() {
        return exampleIds;
    }

    /** Token ids, row-major {@code size x context}; null for feature batches. */
    public int[] tokens() {
        return tokens;
    }

    public int context() {
        return context;
    }

    /** Feature rows ({@code size x inputDim}); null for token batches. */
    public Matrix features() {
        return features;
    }

    /** Class ids / next tokens; null for regression. */
    public int[] labels() {
        return labels;
    }

    /** Regression targets ({@code size x outputDim}); null for classification. */
    public Matrix targets() {
        return targets;
    }

    /** Per-example weights (the first {@link #size()} entries); null when every weight is 1. */
    public float[] weights() {
        return weights;
    }

    /** Example r's weight (1 without weights). */
    public double weight(int r) {
        return weights == null ? 1 : weights[r];
    }

    /**
     * The normaliser of the weighted task loss: the sum of the weights in row order (in double), or
     * the example count without weights.
     */
    public double weightSum() {
        if (weights == null) return size;
        double sum = 0;
        for (int r = 0; r < size; r++) sum += weights[r];
        return sum;
    }

    /** Examples [from, from + n) of this batch (features and targets are views, id arrays copies). */
    public Batch slice(int from, int n) {
        if (from < 0 || n < 0 || from + n > size) {
            throw new IllegalArgumentException("examples [" + from + ", " + (from + n) + ") of a batch of " + size);
        }
        if (from == 0 && n == size) return this;
        return new Batch(n, java.util.Arrays.copyOfRange(exampleIds, from, from + n),
                tokens == null ? null : java.util.Arrays.copyOfRange(tokens, from * context, (from + n) * context), context,
                features == null ? null : features.slice(from * features.cols(), n, features.cols()),
                labels == null ? null : java.util.Arrays.copyOfRange(labels, from, from + n),
                targets == null ? null : targets.slice(from * targets.cols(), n, targets.cols()),
                weights == null ? null : java.util.Arrays.copyOfRange(weights, from, from + n));
    }
}
