package org.sparkmoe.core.network;

import java.io.Serializable;

import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;

/**
 * Training examples of one data partition in compact columnar form: primitive arrays, never one
 * object per example. Inputs are token contexts ({@code size x context} ids) or float feature
 * rows; targets are class ids or float rows. {@code ids} are global example ids: the gating noise
 * of an example depends on its id, not on where it lives.
 */
public final class RowBlock implements Serializable {
    private static final long serialVersionUID = 1L;

    private final int size;
    private final long[] ids;
    private final int context;
    private final int[] tokens;
    private final int featureDim;
    private final float[] features;
    private final int[] labels;
    private final int targetDim;
    private final float[] targets;
    private final float[] weights;

    private RowBlock(int size, long[] ids, int context, int[] tokens, int featureDim, float[] features, int[] labels,
                     int targetDim, float[] targets, float[] weights) {
        if (ids.length != size) {
            throw new IllegalArgumentException("row block of " + size + " rows has " + ids.length + " ids");
        }
        if (tokens != null && tokens.length != size * context) {
            throw new IllegalArgumentException("row block of " + size + " rows x context " + context + " has " + tokens.length + " tokens");
        }
        if (features != null && features.length != size * featureDim) {
            throw new IllegalArgumentException("row block of " + size + " rows x " + featureDim + " features has " + features.length + " values");
        }
        if (labels != null && labels.length != size) {
            throw new IllegalArgumentException("row block of " + size + " rows has " + labels.length + " labels");
        }
        if (targets != null && targets.length != size * targetDim) {
            throw new IllegalArgumentException("row block of " + size + " rows x " + targetDim + " targets has " + targets.length + " values");
        }
        if (weights != null && weights.length != size) {
            throw new IllegalArgumentException("row block of " + size + " rows has " + weights.length + " weights");
        }
        if (weights != null) Batch.checkWeights(weights, size);
        this.size = size;
        this.ids = ids;
        this.context = context;
        this.tokens = tokens;
        this.featureDim = featureDim;
        this.features = features;
        this.labels = labels;
        this.targetDim = targetDim;
        this.targets = targets;
        this.weights = weights;
    }

    /** These rows with example weights (one per row, finite, {@code >= 0}; null: all 1); arrays shared. */
    public RowBlock withWeights(float[] weights) {
        return new RowBlock(size, ids, context, tokens, featureDim, features, labels, targetDim, targets, weights);
    }

    /** The example weights, or null when every weight is 1. */
    public float[] weights() {
        return weights;
    }

    /** Language-model rows: contexts and next tokens. */
    public static RowBlock ofTokens(long[] ids, int context, int[] tokens, int[] labels) {
        return new RowBlock(ids.length, ids, context, tokens, 0, null, labels, 0, null, null);
    }

    /** Feature rows with class labels. */
    public static RowBlock ofFeatures(long[] ids, int featureDim, float[] features, int[] labels) {
        return new RowBlock(ids.length, ids, 0, null, featureDim, features, labels, 0, null, null);
    }

    /** Feature rows with real-valued targets. */
    public static RowBlock ofFeatures(long[] ids, int featureDim, float[] features, int targetDim, float[] targets) {
        return new RowBlock(ids.length, ids, 0, null, featureDim, features, null, targetDim, targets, null);
    }

    /** The rows of a core {@link Batch} (features and targets rounded to float), with its weights. */
    public static RowBlock of(Batch b) {
        RowBlock r = ofUnweighted(b);
        return b.weights() == null ? r : r.withWeights(java.util.Arrays.copyOf(b.weights(), b.size()));
    }

    private static RowBlock ofUnweighted(Batch b) {
        int m = b.size();
        long[] ids = java.util.Arrays.copyOf(b.exampleIds(), m);
        if (b.tokens() != null) {
            return ofTokens(ids, b.context(), java.util.Arrays.copyOf(b.tokens(), m * b.context()),
                    java.util.Arrays.copyOf(b.labels(), m));
        }
        float[] f = toFloats(b.features());
        if (b.labels() != null) {
            return ofFeatures(ids, b.features().cols(), f, java.util.Arrays.copyOf(b.labels(), m));
        }
        return ofFeatures(ids, b.features().cols(), f, b.targets().cols(), toFloats(b.targets()));
    }

    private static float[] toFloats(Matrix m) {
        float[] out = new float[m.size()];
        for (int i = 0; i < out.length; i++) out[i] = (float) m.getFlat(i);
        return out;
    }

    public int size() {
        return size;
    }

    /** The raw columns (shared arrays, not copies): for the engine's serializers. */
    public record Columns(long[] ids, int context, int[] tokens, int featureDim, float[] features, int[] labels, int targetDim,
                   float[] targets, float[] weights) {
    }

    /** This block's columns, sharing its arrays. */
    public Columns columns() {
        return new Columns(ids, context, tokens, featureDim, features, labels, targetDim, targets, weights);
    }

    /** A block over the given columns (no copy). */
    public static RowBlock fromColumns(Columns c) {
        return new RowBlock(c.ids().length, c.ids(), c.context(), c.tokens(), c.featureDim(), c.features(), c.labels(),
                c.targetDim(), c.targets(), c.weights());
    }

    public long id(int row) {
        return ids[row];
    }

    /**
     * The rows {@code rows[from, from+count)} of several blocks (row r addresses block
     * {@code block[from + r]}, row {@code rows[from + r]}) as one core {@link Batch}.
     */
    public static Batch select(RowBlock[] blocks, int[] block, int[] rows, int from, int count, Precision precision) {
        if (count == 0) {
            return Batch.empty();
        }
        Batch b = selectUnweighted(blocks, block, rows, from, count, precision);
        boolean weighted = false;
        for (int r = 0; r < count && !weighted; r++) weighted = blocks[block[from + r]].weights != null;
        if (!weighted) return b;
        float[] w = new float[count];
        for (int r = 0; r < count; r++) {
            float[] bw = blocks[block[from + r]].weights;
            w[r] = bw == null ? 1f : bw[rows[from + r]];
        }
        return b.withWeights(w);
    }

    private static Batch selectUnweighted(RowBlock[] blocks, int[] block, int[] rows, int from, int count, Precision precision) {
        RowBlock first = blocks[block[from]];
        long[] ids = new long[count];
        for (int r = 0; r < count; r++) ids[r] = blocks[block[from + r]].ids[rows[from + r]];
        if (first.tokens != null) {
            int c = first.context;
            int[] t = new int[count * c];
            int[] l = new int[count];
            for (int r = 0; r < count; r++) {
                RowBlock b = blocks[block[from + r]];
                System.arraycopy(b.tokens, rows[from + r] * c, t, r * c, c);
                l[r] = b.labels[rows[from + r]];
            }
            return Batch.ofTokens(count, ids, t, c, l);
        }
        Matrix f = precision.zeros(count, first.featureDim);
        if (f instanceof FloatMatrix ff) {
            // the training path (F32): whole rows copied, not one virtual set per value
            float[] dst = ff.data();
            int d = first.featureDim;
            for (int r = 0; r < count; r++) {
                RowBlock b = blocks[block[from + r]];
                System.arraycopy(b.features, rows[from + r] * d, dst, ff.offset() + r * d, d);
            }
        } else {
            for (int r = 0; r < count; r++) {
                RowBlock b = blocks[block[from + r]];
                int o = rows[from + r] * b.featureDim;
                for (int j = 0; j < b.featureDim; j++) f.set(r, j, b.features[o + j]);
            }
        }
        if (first.labels != null) {
            int[] l = new int[count];
            for (int r = 0; r < count; r++) l[r] = blocks[block[from + r]].labels[rows[from + r]];
            return Batch.ofFeatures(count, ids, f, l);
        }
        Matrix t = precision.zeros(count, first.targetDim);
        for (int r = 0; r < count; r++) {
            RowBlock b = blocks[block[from + r]];
            int o = rows[from + r] * b.targetDim;
            for (int j = 0; j < b.targetDim; j++) t.set(r, j, b.targets[o + j]);
        }
        return Batch.ofFeatures(count, ids, f, t);
    }
}
