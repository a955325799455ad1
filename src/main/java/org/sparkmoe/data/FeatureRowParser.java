package org.sparkmoe.data;

import java.io.Serializable;
import java.util.List;

import org.apache.spark.ml.linalg.DenseVector;
import org.apache.spark.ml.linalg.SparseVector;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Row;
import org.sparkmoe.core.network.NetworkSpec.Task;

/**
 * Turns one projected input row (feature columns, then label/target columns, then the weight column
 * if there is one, then file path and split start) into validated float features, a class id or
 * float targets, and an example weight. Runs on the executors; a bad value raises
 * {@link RowProblem} naming the column.
 */
final class FeatureRowParser implements Serializable {
    private static final long serialVersionUID = 1L;

    enum Mode { VECTOR, ARRAY, COLUMNS }

    final Task task;
    final Mode mode;
    final boolean libsvm;
    final String[] featureColumns;
    final String[] targetColumns;
    final int numClasses;
    /** The example-weight column, or null: every row weighs 1. */
    final String weightColumn;

    FeatureRowParser(Task task, Mode mode, boolean libsvm, String[] featureColumns, String[] targetColumns, int numClasses,
                     String weightColumn) {
        this.weightColumn = weightColumn;
        this.task = task;
        this.mode = mode;
        this.libsvm = libsvm;
        this.featureColumns = featureColumns;
        this.targetColumns = targetColumns;
        this.numClasses = numClasses;
    }

    /** Position of the file path in a projected row. */
    int fileIndex() {
        return featureColumns.length + targetColumns.length + (weightColumn == null ? 0 : 1);
    }

    /** Position of the split (block) start in a projected row. */
    int startIndex() {
        return fileIndex() + 1;
    }

    int targetDim() {
        return targetColumns.length;
    }

    /** A bad value in one column of one row (no stack trace: it is data, not a bug). */
    static final class RowProblem extends Exception {
        private static final long serialVersionUID = 1L;
        final String column;

        RowProblem(String column, String problem) {
            super(problem, null, false, false);
            this.column = column;
        }
    }

    /**
     * Validates the features of a row and, when {@code out != null}, writes them to
     * {@code out[off, off+expected)} (which must be zero). {@code expected < 0}: the size is not known
     * yet (no size check). Returns the row's feature count: the vector size, for libsvm the largest
     * index + 1.
     */
    int features(Row r, float[] out, int off, int expected) throws RowProblem {
        switch (mode) {
            case COLUMNS -> {
                for (int j = 0; j < featureColumns.length; j++) {
                    float f = feature(number(r.get(j), featureColumns[j], "feature"), featureColumns[j], -1);
                    if (out != null) out[off + j] = f;
                }
                return featureColumns.length;
            }
            case ARRAY -> {
                String col = featureColumns[0];
                Object o = r.get(0);
                if (o == null) throw new RowProblem(col, "missing value (null feature array)");
                List<Object> values = r.getList(0);
                int n = values.size();
                if (expected >= 0 && n != expected) throw wrongSize(col, expected, n);
                for (int j = 0; j < n; j++) {
                    float f = feature(number(values.get(j), col, "feature " + j), col, j);
                    if (out != null) out[off + j] = f;
                }
                return n;
            }
            default -> {
                String col = featureColumns[0];
                Object o = r.get(0);
                if (o == null) throw new RowProblem(col, "missing value (null feature vector)");
                if (!(o instanceof Vector v)) {
                    throw new RowProblem(col, "not a vector: " + o.getClass().getName());
                }
                if (v instanceof SparseVector s) {
                    int[] idx = s.indices();
                    double[] val = s.values();
                    int n = libsvm ? (idx.length == 0 ? 0 : idx[idx.length - 1] + 1) : s.size();
                    if (expected >= 0) {
                        if (libsvm && n > expected) {
                            throw new RowProblem(col, "feature index " + n + " (1-based) is beyond numFeatures "
                                    + expected + " (expected " + expected + " features, got " + n + ")");
                        }
                        if (!libsvm && n != expected) throw wrongSize(col, expected, n);
                    }
                    for (int k = 0; k < idx.length; k++) {
                        float f = feature(val[k], col, idx[k]);
                        if (out != null) out[off + idx[k]] = f;
                    }
                    return n;
                }
                double[] val = v instanceof DenseVector d ? d.values() : v.toArray();
                int n = val.length;
                if (expected >= 0 && n != expected) throw wrongSize(col, expected, n);
                for (int j = 0; j < n; j++) {
                    float f = feature(val[j], col, j);
                    if (out != null) out[off + j] = f;
                }
                return n;
            }
        }
    }

    private static RowProblem wrongSize(String col, int expected, int got) {
        return new RowProblem(col, "wrong vector size: expected " + expected + " features, got " + got);
    }

    private static float feature(double v, String col, int index) throws RowProblem {
        String what = index < 0 ? "feature" : "feature " + index;
        if (Double.isNaN(v)) throw new RowProblem(col, what + " is NaN");
        if (Double.isInfinite(v)) throw new RowProblem(col, what + " is " + v);
        float f = (float) v;
        if (Float.isInfinite(f)) throw new RowProblem(col, what + " = " + v + " is outside the float range");
        return f;
    }

    /** The class id of a row (classification). */
    int label(Row r) throws RowProblem {
        int i = featureColumns.length;
        String col = targetColumns[0];
        double v = number(r.get(i), col, "label");
        if (Double.isNaN(v) || Double.isInfinite(v)) throw new RowProblem(col, "label is " + v);
        if (v != Math.rint(v)) {
            throw new RowProblem(col, "label " + v + " is not a whole number (classification needs class ids 0.."
                    + (numClasses > 0 ? numClasses - 1 : "C-1") + ")");
        }
        if (v < 0) throw new RowProblem(col, "label " + (long) v + " is negative (class ids are 0..C-1)");
        if (numClasses > 0 && v >= numClasses) {
            throw new RowProblem(col, "label " + (long) v + " is out of range: numClasses is " + numClasses
                    + " (class ids 0.." + (numClasses - 1) + ")");
        }
        if (v >= Integer.MAX_VALUE) throw new RowProblem(col, "label " + (long) v + " is too large for a class id");
        return (int) v;
    }

    /** Validates the targets of a row (regression) and, when {@code out != null}, writes them. */
    void targets(Row r, float[] out, int off) throws RowProblem {
        int base = featureColumns.length;
        for (int t = 0; t < targetColumns.length; t++) {
            String col = targetColumns[t];
            double v = number(r.get(base + t), col, "target");
            if (Double.isNaN(v) || Double.isInfinite(v)) throw new RowProblem(col, "target is " + v);
            float f = (float) v;
            if (Float.isInfinite(f)) throw new RowProblem(col, "target " + v + " is outside the float range");
            if (out != null) out[off + t] = f;
        }
    }

    /** The validated example weight of a row (finite, {@code >= 0}, within the float range); needs a weight column. */
    float weight(Row r) throws RowProblem {
        double v = number(r.get(featureColumns.length + targetColumns.length), weightColumn, "weight");
        if (!(v >= 0) || Double.isInfinite(v)) throw new RowProblem(weightColumn, "weight is " + v + " (weights must be finite and >= 0)");
        float f = (float) v;
        if (Float.isInfinite(f)) throw new RowProblem(weightColumn, "weight " + v + " is outside the float range");
        return f;
    }

    /** A numeric value: a number, or (CSV) text holding one. */
    private static double number(Object o, String col, String what) throws RowProblem {
        if (o == null) throw new RowProblem(col, "missing value (" + what + " is empty or null)");
        if (o instanceof Number n) return n.doubleValue();
        if (o instanceof String s) {
            String t = s.trim();
            if (t.isEmpty()) throw new RowProblem(col, "missing value (" + what + " is empty)");
            try {
                return Double.parseDouble(t);
            } catch (NumberFormatException e) {
                throw new RowProblem(col, "non-numeric value '" + abbreviate(s) + "' (" + what + ")");
            }
        }
        throw new RowProblem(col, "non-numeric value of type " + o.getClass().getSimpleName() + " (" + what + ")");
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }
}
