package org.sparkmoe.data;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.NoSuchElementException;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Row;
import org.sparkmoe.core.network.NetworkSpec.Task;
import org.sparkmoe.core.network.RowBlock;

/**
 * The second pass over validated feature input: each partition's rows, in order, as {@link RowBlock}s
 * of up to {@code blockSize} rows, with the global ids the survey assigned, optionally keeping only one
 * side of a {@link FeatureSplit}.
 */
final class FeatureBlockBuilder {
    private FeatureBlockBuilder() {
    }

    /**
     * @param keep 0: all rows; 1: only held-out rows; -1: only training rows (of the split
     *             {@code fraction}, {@code seed})
     */
    static JavaRDD<RowBlock> build(JavaRDD<Row> rows, FeatureRowParser parser, HashMap<String, Long> idOffsets,
                                   int dim, int blockSize, int keep, double fraction, long seed) {
        return rows.mapPartitions((Iterator<Row> it) -> new Blocks(it, parser, idOffsets, dim, blockSize, keep, fraction, seed), true);
    }

    private static final class Blocks implements Iterator<RowBlock> {
        private final Iterator<Row> in;
        private final FeatureRowParser p;
        private final HashMap<String, Long> offsets;
        private final int dim;
        private final int blockSize;
        private final int keep;
        private final double fraction;
        private final long seed;
        private final boolean classification;
        private final int targetDim;
        private String file;
        private long start = Long.MIN_VALUE;
        private long nextId;
        private RowBlock next;

        Blocks(Iterator<Row> in, FeatureRowParser p, HashMap<String, Long> offsets, int dim, int blockSize, int keep,
               double fraction, long seed) {
            this.in = in;
            this.p = p;
            this.offsets = offsets;
            this.dim = dim;
            this.blockSize = blockSize;
            this.keep = keep;
            this.fraction = fraction;
            this.seed = seed;
            this.classification = p.task == Task.CLASSIFICATION;
            this.targetDim = p.targetDim();
        }

        @Override
        public boolean hasNext() {
            if (next == null) next = fill();
            return next != null;
        }

        @Override
        public RowBlock next() {
            if (!hasNext()) throw new NoSuchElementException();
            RowBlock b = next;
            next = null;
            return b;
        }

        private RowBlock fill() {
            long[] ids = new long[blockSize];
            float[] f = new float[blockSize * dim];
            int[] labels = classification ? new int[blockSize] : null;
            float[] targets = classification ? null : new float[blockSize * targetDim];
            float[] weights = p.weightColumn == null ? null : new float[blockSize];
            int n = 0;
            int fi = p.fileIndex();
            int si = p.startIndex();
            while (n < blockSize && in.hasNext()) {
                Row r = in.next();
                String rf = r.getString(fi);
                long rs = r.getLong(si);
                if (rs != start || !rf.equals(file)) {
                    Long off = offsets.get(FeatureSurvey.key(rf, rs));
                    if (off == null) {
                        throw new IllegalStateException("feature input changed since it was read: split of " + rf
                                + " at byte " + rs + " was not seen by the survey");
                    }
                    file = rf;
                    start = rs;
                    nextId = off;
                }
                long id = nextId++;
                if (keep != 0 && FeatureSplit.isHeldOut(id, fraction, seed) != (keep > 0)) continue;
                try {
                    p.features(r, f, n * dim, dim);
                    if (classification) labels[n] = p.label(r);
                    else p.targets(r, targets, n * targetDim);
                    if (weights != null) weights[n] = p.weight(r);
                } catch (FeatureRowParser.RowProblem e) {
                    throw new IllegalStateException("feature input changed since it was validated: file " + rf
                            + ", example id " + id + ", column '" + e.column + "': " + e.getMessage());
                }
                ids[n++] = id;
            }
            if (n == 0) return null;
            if (n < blockSize) {
                ids = Arrays.copyOf(ids, n);
                f = Arrays.copyOf(f, n * dim);
                if (classification) labels = Arrays.copyOf(labels, n);
                else targets = Arrays.copyOf(targets, n * targetDim);
                if (weights != null) weights = Arrays.copyOf(weights, n);
            }
            RowBlock b = classification ? RowBlock.ofFeatures(ids, dim, f, labels) : RowBlock.ofFeatures(ids, dim, f, targetDim, targets);
            return weights == null ? b : b.withWeights(weights);
        }
    }
}
