package org.sparkmoe.core.network;

import org.sparkmoe.core.linalg.Matrix;

/**
 * A block of examples in compact form (never one object per example): the inputs are either
 * token contexts ({@code size x context} token ids, language modelling) or dense feature rows; the
 * targets are either class ids (classification, next token) or dense rows (regression).
 * {@code exampleIds} are global ids: the gating noise of an example is a function of its id, so
 * it does not depend on how the data is partitioned.
 */
public final class Batch implements java.io.Serializable {
    private final int size;
    private final long[] exampleIds;
    private final int[] tokens;
    private final int context;
    private final Matrix features;
    private final int[] labels;
    private final Matrix targets;

    private Batch(int size, long[] exampleIds, int[] tokens, int context, Matrix features, int[] labels, Matrix targets) {
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
        this.size = size;
        this.exampleIds = exampleIds;
        this.tokens = tokens;
        this.context = context;
        this.features = features == null ? null : features.topRows(size);
        this.labels = labels;
        this.targets = targets == null ? null : targets.topRows(size);
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
                targets == null ? null : targets.slice(from * targets.cols(), n, targets.cols()));
    }
}
