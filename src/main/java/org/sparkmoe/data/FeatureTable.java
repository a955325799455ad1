package org.sparkmoe.data;

import java.util.HashMap;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Row;
import org.sparkmoe.core.network.NetworkSpec.Task;
import org.sparkmoe.core.network.RowBlock;

/**
 * Validated feature-vector training data read by {@link FeatureSource}: the row blocks the engine
 * trains on, plus what a network needs to know about them.
 * <p>
 * Example ids are the 0-based row index of the example in the whole input, the input's data files
 * taken in order of their path (as Spark lists them, e.g. {@code file:/data/part-00000.csv}), rows
 * in file order. They do not depend on how Spark splits or packs the files into partitions, so reruns
 * agree. (Not zipWithIndex or monotonically_increasing_id: those depend on the partitioning.)
 * <p>
 * {@link #blocks()} is lazy and re-reads the files when computed: persist it (the engine's trainer
 * does) before using it more than once.
 */
public final class FeatureTable {
    private final Task task;
    private final String input;
    private final int numFeatures;
    private final int numClasses;
    private final int numTargets;
    private final long totalRows;
    private final int blockSize;
    private final JavaRDD<Row> rows;
    private final FeatureRowParser parser;
    private final HashMap<String, Long> idOffsets;
    private final int keep;
    private final double fraction;
    private final long seed;
    private final JavaRDD<RowBlock> blocks;
    private long numRows = -1;

    FeatureTable(Task task, String input, int numFeatures, int numClasses, int numTargets, long totalRows, int blockSize,
                 JavaRDD<Row> rows, FeatureRowParser parser, HashMap<String, Long> idOffsets, int keep, double fraction,
                 long seed) {
        this.task = task;
        this.input = input;
        this.numFeatures = numFeatures;
        this.numClasses = numClasses;
        this.numTargets = numTargets;
        this.totalRows = totalRows;
        this.blockSize = blockSize;
        this.rows = rows;
        this.parser = parser;
        this.idOffsets = idOffsets;
        this.keep = keep;
        this.fraction = fraction;
        this.seed = seed;
        this.blocks = FeatureBlockBuilder.build(rows, parser, idOffsets, numFeatures, blockSize, keep, fraction, seed);
        if (keep == 0) this.numRows = totalRows;
    }

    /** The examples as row blocks of up to {@link #blockSize()} rows, never spanning partitions. */
    public JavaRDD<RowBlock> blocks() {
        return blocks;
    }

    /** CLASSIFICATION or REGRESSION. */
    public Task task() {
        return task;
    }

    /** The input paths, as given. */
    public String input() {
        return input;
    }

    /** Features per example (the network's input dimension). */
    public int numFeatures() {
        return numFeatures;
    }

    /** Classes (given, or the largest label of the whole input + 1); 0 for regression. */
    public int numClasses() {
        return numClasses;
    }

    /** Target columns per example (regression); 0 for classification. */
    public int numTargets() {
        return numTargets;
    }

    /** The network's output dimension: {@link #numClasses()} or {@link #numTargets()}. */
    public int outputs() {
        return task == Task.CLASSIFICATION ? numClasses : numTargets;
    }

    /**
     * Examples in this table. Known for a table read whole; for a side of a split, counted by a Spark
     * job on first call.
     */
    public synchronized long numRows() {
        if (numRows < 0) {
            numRows = blocks.map(b -> (long) b.size()).fold(0L, Long::sum);
        }
        return numRows;
    }

    /** Examples in the whole input this table comes from (before any split); ids are below this. */
    public long inputRows() {
        return totalRows;
    }

    public int blockSize() {
        return blockSize;
    }

    /**
     * Splits this table (read whole) into training and held-out examples, deterministically by
     * example id: see {@link FeatureSplit}. Held-out metadata (feature and class counts) stays that
     * of the whole input.
     */
    public FeatureSplit split(double heldOutFraction, long seed) {
        if (!(heldOutFraction >= 0 && heldOutFraction <= 1)) {
            throw new IllegalArgumentException("held-out fraction must be in [0, 1], got " + heldOutFraction);
        }
        if (keep != 0) throw new IllegalStateException("split a table read whole, not a side of a split");
        return new FeatureSplit(side(-1, heldOutFraction, seed), side(1, heldOutFraction, seed));
    }

    private FeatureTable side(int k, double f, long s) {
        return new FeatureTable(task, input, numFeatures, numClasses, numTargets, totalRows, blockSize, rows, parser,
                idOffsets, k, f, s);
    }

    @Override
    public String toString() {
        return "FeatureTable[" + input + ": " + task + ", " + numFeatures + " features, "
                + (task == Task.CLASSIFICATION ? numClasses + " classes" : numTargets + " targets") + ", "
                + (numRows >= 0 ? numRows + " rows" : "rows of " + totalRows + " (split)") + "]";
    }
}
