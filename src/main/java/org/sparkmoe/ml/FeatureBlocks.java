package org.sparkmoe.ml;

import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.ml.attribute.Attribute;
import org.apache.spark.ml.attribute.AttributeGroup;
import org.apache.spark.ml.attribute.NominalAttribute;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.sparkmoe.core.network.RowBlock;
import scala.Tuple2;

/** Feature DataFrames as row blocks for training: the feature count, the classes, the blocks (built on the executors). */
final class FeatureBlocks {
    private FeatureBlocks() {
    }

    /** Rows per {@link RowBlock} when converting a DataFrame, and rows per forward pass when scoring. */
    static final int BLOCK = 1024;

    /** The feature count: from the column's ML attributes when present, else from the first row's vector. */
    static int featureDim(Dataset<?> ds, String col) {
        AttributeGroup g = AttributeGroup.fromStructField(ds.schema().apply(col));
        if (g.size() > 0) return g.size();
        List<Row> first = ds.select(col).where(functions.col(col).isNotNull()).limit(1).collectAsList();
        if (first.isEmpty()) throw new IllegalArgumentException("cannot fit on an empty dataset (column '" + col + "' has no values)");
        return ((Vector) first.get(0).get(0)).size();
    }

    /**
     * The feature count ({@link #featureDim}) and the classes ({@link #numClasses}) of a classifier's
     * training set. When neither column carries ML attributes both come from one aggregation (the
     * first non-null feature vector and the largest label): one Spark job where asking for each would
     * run two, with a query plan each, before every fit.
     */
    static int[] featureDimAndClasses(Dataset<?> ds, String featuresCol, String labelCol) {
        if (AttributeGroup.fromStructField(ds.schema().apply(featuresCol)).size() > 0 || nominalClasses(ds, labelCol) > 0) {
            return new int[]{featureDim(ds, featuresCol), numClasses(ds, labelCol)};
        }
        Row r = ds.agg(functions.first(functions.col(featuresCol), true), functions.max(functions.col(labelCol).cast("double"))).head();
        if (r.isNullAt(0)) throw new IllegalArgumentException("cannot fit on an empty dataset (column '" + featuresCol + "' has no values)");
        return new int[]{((Vector) r.get(0)).size(), classesFromMax(r, 1, labelCol)};
    }

    /** Classes: from the label column's nominal attribute when present, else 1 + the largest label (at least 2). */
    static int numClasses(Dataset<?> ds, String col) {
        int nominal = nominalClasses(ds, col);
        if (nominal > 0) return nominal;
        return classesFromMax(ds.agg(functions.max(functions.col(col).cast("double"))).head(), 0, col);
    }

    /** The classes the label column's nominal attribute declares (at least 2), or 0 without one. */
    private static int nominalClasses(Dataset<?> ds, String col) {
        Attribute a = Attribute.fromStructField(ds.schema().apply(col));
        return a instanceof NominalAttribute n && n.getNumValues().isDefined() ? Math.max(2, (Integer) n.getNumValues().get()) : 0;
    }

    /** 1 + the largest label, field {@code i} of {@code r} (at least 2), checked to be a class index. */
    private static int classesFromMax(Row r, int i, String col) {
        if (r.isNullAt(i)) throw new IllegalArgumentException("cannot fit on an empty dataset (column '" + col + "' has no values)");
        double max = r.getDouble(i);
        if (max < 0 || max != Math.rint(max) || max > Integer.MAX_VALUE - 1) {
            throw new IllegalArgumentException("column '" + col + "' (param labelCol) must hold class indices 0, 1, ..., got " + max);
        }
        return Math.max(2, (int) max + 1);
    }

    /**
     * The features, labels and (with a non-empty {@code weightCol}) example weights as row blocks, built
     * on the executors (nothing is collected). Example ids are the rows' positions from
     * {@code zipWithIndex} over the input's partitions, so they (and with them batch order and gating
     * noise) are deterministic for a deterministic input ordering; a bad row is named by that position.
     */
    static JavaRDD<RowBlock> blocks(Dataset<?> ds, String featuresCol, String labelCol, String weightCol, int dim, int classes) {
        boolean weighted = !weightCol.isEmpty();
        JavaRDD<Row> rows = (weighted
                ? ds.select(functions.col(featuresCol), functions.col(labelCol).cast("double"), functions.col(weightCol).cast("double"))
                : ds.select(functions.col(featuresCol), functions.col(labelCol).cast("double"))).toJavaRDD();
        return rows.zipWithIndex().mapPartitions(it -> new BlockIterator(it, dim, classes, featuresCol, labelCol, weightCol), true);
    }

    /**
     * The sum of the example weights of {@code blocks} (builds them: a bad weight fails here, naming
     * its row); throws unless it is positive, since a zero total weight leaves nothing to fit.
     */
    static void requirePositiveWeight(JavaRDD<RowBlock> blocks, String weightCol) {
        double total = blocks.map(b -> {
            float[] w = b.weights();
            double sum = 0;
            if (w != null) for (float x : w) sum += x;
            return sum;
        }).fold(0.0, Double::sum);
        if (!(total > 0)) {
            throw new IllegalArgumentException("column '" + weightCol + "' (param weightCol): the training rows' weights sum to " + total
                    + "; at least one row needs a positive weight");
        }
    }

    /** Groups rows into blocks of up to {@link #BLOCK}; classes 0 means regression. */
    private static final class BlockIterator implements Iterator<RowBlock> {
        private final Iterator<Tuple2<Row, Long>> in;
        private final int dim;
        private final int classes;
        private final String featuresCol;
        private final String labelCol;
        private final String weightCol;

        BlockIterator(Iterator<Tuple2<Row, Long>> in, int dim, int classes, String featuresCol, String labelCol, String weightCol) {
            this.in = in;
            this.dim = dim;
            this.classes = classes;
            this.featuresCol = featuresCol;
            this.labelCol = labelCol;
            this.weightCol = weightCol;
        }

        @Override
        public boolean hasNext() {
            return in.hasNext();
        }

        @Override
        public RowBlock next() {
            if (!in.hasNext()) throw new NoSuchElementException();
            long[] ids = new long[BLOCK];
            float[] f = new float[BLOCK * dim];
            int[] labels = classes > 0 ? new int[BLOCK] : null;
            float[] targets = classes > 0 ? null : new float[BLOCK];
            float[] weights = weightCol.isEmpty() ? null : new float[BLOCK];
            int n = 0;
            while (n < BLOCK && in.hasNext()) {
                Tuple2<Row, Long> t = in.next();
                Row r = t._1();
                if (r.isNullAt(0)) throw new IllegalArgumentException("row " + t._2() + ": column '" + featuresCol + "' is null");
                if (r.isNullAt(1)) throw new IllegalArgumentException("row " + t._2() + ": column '" + labelCol + "' is null");
                Vector v = (Vector) r.get(0);
                if (v.size() != dim) {
                    throw new IllegalArgumentException("row " + t._2() + ": column '" + featuresCol + "' has " + v.size()
                            + " features, expected " + dim);
                }
                int o = n * dim;
                v.foreachActive((i, x) -> {
                    f[o + (Integer) i] = (float) (double) (Double) x;
                    return scala.runtime.BoxedUnit.UNIT;
                });
                double y = r.getDouble(1);
                if (classes > 0) {
                    if (y < 0 || y >= classes || y != Math.rint(y)) {
                        throw new IllegalArgumentException("row " + t._2() + ": column '" + labelCol + "' must be a class index in [0, "
                                + classes + "), got " + y);
                    }
                    labels[n] = (int) y;
                } else {
                    if (!Double.isFinite(y)) throw new IllegalArgumentException("row " + t._2() + ": column '" + labelCol + "' is " + y);
                    targets[n] = (float) y;
                }
                if (weights != null) weights[n] = weight(r, t._2());
                ids[n++] = t._2();
            }
            RowBlock b;
            if (n < BLOCK) {
                ids = Arrays.copyOf(ids, n);
                float[] ff = Arrays.copyOf(f, n * dim);
                b = classes > 0 ? RowBlock.ofFeatures(ids, dim, ff, Arrays.copyOf(labels, n))
                        : RowBlock.ofFeatures(ids, dim, ff, 1, Arrays.copyOf(targets, n));
            } else {
                b = classes > 0 ? RowBlock.ofFeatures(ids, dim, f, labels) : RowBlock.ofFeatures(ids, dim, f, 1, targets);
            }
            return weights == null ? b : b.withWeights(n < BLOCK ? Arrays.copyOf(weights, n) : weights);
        }

        /** Row {@code row}'s weight (column 2), checked: finite and >= 0 also as a float. */
        private float weight(Row r, long row) {
            if (r.isNullAt(2)) throw new IllegalArgumentException("row " + row + ": column '" + weightCol + "' (param weightCol) is null");
            double w = r.getDouble(2);
            if (!(w >= 0) || Float.isInfinite((float) w)) {
                throw new IllegalArgumentException("row " + row + ": column '" + weightCol + "' (param weightCol) must be a finite weight >= 0"
                        + " (at most " + Float.MAX_VALUE + "), got " + w);
            }
            return (float) w;
        }
    }
}
