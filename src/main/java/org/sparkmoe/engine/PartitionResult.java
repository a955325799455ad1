package org.sparkmoe.engine;

import java.io.Serializable;

import org.sparkmoe.core.param.Parameters;

/**
 * What one task contributes to a step's aggregation, summed on the driver in {@code index} order.
 * From data partition {@code index} (&lt; P): its share of the shared-parameter gradient and of the
 * loss, its partial balance statistics and its expert batch sizes. From expert shard s (index
 * P + s): the sum of squares of its experts' gradients, for the global clipping norm.
 */
public record PartitionResult(int partition, Parameters sharedGrad, double lossSum, int examples, double[] stats,
                              int[] expertCounts, double expertSumOfSquares) implements Serializable {

    /** Expert shard {@code shard}'s gradient sum of squares, ordered after the P data partitions. */
    static PartitionResult ofShard(int partitions, int shard, double sumOfSquares) {
        return new PartitionResult(partitions + shard, null, 0, 0, null, null, sumOfSquares);
    }
}
