package org.sparkmoe.engine;

import java.io.Serializable;

import org.sparkmoe.core.linalg.DoubleMatrix;
import org.sparkmoe.core.linalg.Matrix;

/**
 * The unit that crosses the shuffle: the rows one data partition exchanges with one expert shard in
 * one direction (inputs for the experts, their outputs back, gate-weighted output gradients, input
 * gradients back), as one contiguous run of rows with no per-row objects. The rows are cut into
 * segments, one per expert ({@code segmentExpert(i)}, {@code segmentRows(i)} rows, experts
 * ascending), each in the data partition's routing order for that expert. One block per
 * (partition, shard) rather than per (partition, expert) keeps the number of shuffle records, and
 * what each costs, independent of the number of experts. A single-expert block is the special case
 * of one segment. With {@code bf16} set, float32 rows travel as bfloat16 ({@link ShufflePayload#BF16}).
 *
 * <p>On the sending side the rows may be several matrices ({@link #parts()}, e.g. an expert shard's
 * outputs, views into its activation arena) whose rows follow one another; they are written one
 * after another, so the sender copies nothing, and the receiver reads one matrix.
 *
 * <p>A {@linkplain #stats(int, double[]) statistics block} (expert {@value #STATS}) carries
 * one data partition's partial balance statistics (Importance and Load sums, O(n)) to every data
 * partition alongside the experts' outputs, so that each sums all of them in partition order and
 * the step needs no driver round trip before the backward pass.
 */
public final class ShuffleBlock implements Serializable, org.apache.spark.util.KnownSizeEstimation {
    private static final long serialVersionUID = 1L;
    /** The expert field of a statistics block. */
    public static final int STATS = -1;

    private final int partition;
    private final int[] experts;
    private final int[] counts;
    private final Matrix[] parts;
    private final boolean bf16;

    /**
     * Segments {@code experts[i]} of {@code counts[i]} rows each, in this order, held by
     * {@code parts} one after another (all with the same columns).
     */
    public ShuffleBlock(int partition, int[] experts, int[] counts, Matrix[] parts, boolean bf16) {
        if (experts.length != counts.length || parts.length == 0) {
            throw new IllegalArgumentException(experts.length + " segment experts, " + counts.length + " segment sizes, "
                    + parts.length + " parts");
        }
        long rows = 0;
        long segs = 0;
        for (Matrix p : parts) {
            if (p.cols() != parts[0].cols() || p.precision() != parts[0].precision()) {
                throw new IllegalArgumentException("parts differ in columns or precision");
            }
            rows += p.rows();
        }
        for (int c : counts) segs += c;
        if (rows != segs) throw new IllegalArgumentException("segments hold " + segs + " rows, the parts " + rows);
        this.partition = partition;
        this.experts = experts;
        this.counts = counts;
        this.parts = parts;
        this.bf16 = bf16;
    }

    /** One expert's rows. */
    public ShuffleBlock(int partition, int expert, Matrix rows, boolean bf16) {
        this(partition, new int[]{expert}, new int[]{rows.rows()}, new Matrix[]{rows}, bf16);
    }

    /** One expert's rows, sent as they are. */
    public ShuffleBlock(int partition, int expert, Matrix rows) {
        this(partition, expert, rows, false);
    }

    /** Partition {@code partition}'s partial balance statistics, in double whatever the precision. */
    static ShuffleBlock stats(int partition, double[] stats) {
        return new ShuffleBlock(partition, STATS, new DoubleMatrix(stats.clone(), 0, 1, stats.length));
    }

    public int partition() {
        return partition;
    }

    public boolean bf16() {
        return bf16;
    }

    /** The expert of a single-segment block. */
    public int expert() {
        if (experts.length != 1) throw new IllegalStateException("block of " + experts.length + " experts has no single expert");
        return experts[0];
    }

    /** The first segment's expert (the shuffle key of a block bound for an expert shard). */
    public int firstExpert() {
        return experts.length == 0 ? Integer.MAX_VALUE : experts[0];
    }

    public int segments() {
        return experts.length;
    }

    public int segmentExpert(int i) {
        return experts[i];
    }

    public int segmentRows(int i) {
        return counts[i];
    }

    /** Whether the segments are exactly those of {@code other} (same experts, same row counts). */
    boolean sameSegments(ShuffleBlock other) {
        return java.util.Arrays.equals(experts, other.experts) && java.util.Arrays.equals(counts, other.counts);
    }

    int[] segmentExperts() {
        return experts;
    }

    int[] segmentCounts() {
        return counts;
    }

    /** The matrices holding the rows, one after another. */
    public Matrix[] parts() {
        return parts;
    }

    /** Rows of all segments. */
    public int totalRows() {
        int r = 0;
        for (Matrix p : parts) r += p.rows();
        return r;
    }

    /** All rows as one matrix (a copy only when the block was built from several parts). */
    public Matrix rows() {
        if (parts.length == 1) return parts[0];
        Matrix all = parts[0].precision().zeros(totalRows(), parts[0].cols());
        int at = 0;
        int d = parts[0].cols();
        for (Matrix p : parts) {
            all.slice(at * d, p.rows(), d).copyFrom(p);
            at += p.rows();
        }
        return all;
    }

    /**
     * Its own rows, not the arrays they are views of: a block of a persisted step RDD that slices an
     * expert shard's pooled arena must not count the whole arena (see {@link ShardStep#estimatedSize}).
     */
    @Override
    public long estimatedSize() {
        long b = 64 + 8L * experts.length;
        for (Matrix p : parts) b += StepMemory.bytes(p);
        return b;
    }

    boolean isStats() {
        return experts.length == 1 && experts[0] == STATS;
    }

    /** Adds a statistics block's values to {@code sum}. */
    void addStatsTo(double[] sum) {
        Matrix rows = parts[0];
        for (int i = 0; i < sum.length; i++) sum[i] += rows.getFlat(i);
    }
}
