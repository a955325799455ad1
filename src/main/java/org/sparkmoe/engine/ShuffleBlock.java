package org.sparkmoe.engine;

import java.io.Serializable;

import org.sparkmoe.core.linalg.DoubleMatrix;
import org.sparkmoe.core.linalg.Matrix;

/**
 * The unit that crosses the shuffle: the rows one data partition exchanges with one expert in one
 * direction (inputs for the expert, its outputs back, gate-weighted output gradients, input
 * gradients back), as one contiguous matrix with no per-row objects. Rows are in the data
 * partition's routing order for that expert. With {@code bf16} set, float32 rows travel as
 * bfloat16 ({@link ShufflePayload#BF16}).
 *
 * <p>A {@linkplain #stats(int, double[]) statistics block} ({@code expert} = {@value #STATS}) carries
 * one data partition's partial balance statistics (Importance and Load sums, O(n)) to every data
 * partition alongside the experts' outputs, so that each sums all of them in partition order and
 * the step needs no driver round trip before the backward pass.
 */
public record ShuffleBlock(int partition, int expert, Matrix rows, boolean bf16)
        implements Serializable, org.apache.spark.util.KnownSizeEstimation {
    /** The expert field of a statistics block. */
    public static final int STATS = -1;

    /** Rows sent as they are. */
    public ShuffleBlock(int partition, int expert, Matrix rows) {
        this(partition, expert, rows, false);
    }

    /** Partition {@code partition}'s partial balance statistics, in double whatever the precision. */
    static ShuffleBlock stats(int partition, double[] stats) {
        return new ShuffleBlock(partition, STATS, new DoubleMatrix(stats.clone(), 0, 1, stats.length));
    }

    /**
     * Its own rows, not the array they are a view of: a block of a persisted step RDD that slices an
     * expert shard's pooled arena must not count the whole arena (see {@link ShardStep#estimatedSize}).
     */
    @Override
    public long estimatedSize() {
        return 64 + StepMemory.bytes(rows);
    }

    boolean isStats() {
        return expert == STATS;
    }

    /** Adds a statistics block's values to {@code sum}. */
    void addStatsTo(double[] sum) {
        for (int i = 0; i < sum.length; i++) sum[i] += rows.getFlat(i);
    }
}
