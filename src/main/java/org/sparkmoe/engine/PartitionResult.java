package org.sparkmoe.engine;

import java.io.Serializable;

import org.sparkmoe.core.param.Parameters;

/**
 * What one task contributes to a step's aggregation, summed on the driver in {@code index} order.
 * From data partition {@code index} (&lt; P): its share of the shared-parameter gradient and of the
 * (weighted) loss sum, its rows' weight sum (the loss's normaliser; its row count without weights),
 * its partial balance statistics and its expert batch sizes; with local routing and the experts on
 * the driver also its share of the experts' gradients ({@code expertGrads[e]}, null for an expert
 * it routed no row to), so that they reach the driver's optimiser in the step's only job. From expert
 * shard s (index P + s): the sum of squares of its experts' gradients, for the global clipping norm.
 */
public record PartitionResult(int partition, Parameters sharedGrad, double lossSum, int examples, double weightSum, double[] stats,
                              int[] expertCounts, double expertSumOfSquares, Parameters[] expertGrads) implements Serializable {

    /** A record without expert gradients (they stay with the shards, or go to them through a shuffle). */
    public PartitionResult(int partition, Parameters sharedGrad, double lossSum, int examples, double weightSum, double[] stats,
                           int[] expertCounts, double expertSumOfSquares) {
        this(partition, sharedGrad, lossSum, examples, weightSum, stats, expertCounts, expertSumOfSquares, null);
    }

    /** A record whose rows all weigh 1 (the recurrent language model's steps): the weight sum is the example count. */
    public PartitionResult(int partition, Parameters sharedGrad, double lossSum, int examples, double[] stats, int[] expertCounts,
                           double expertSumOfSquares) {
        this(partition, sharedGrad, lossSum, examples, examples, stats, expertCounts, expertSumOfSquares);
    }

    /** Expert shard {@code shard}'s gradient sum of squares, ordered after the P data partitions. */
    static PartitionResult ofShard(int partitions, int shard, double sumOfSquares) {
        return new PartitionResult(partitions + shard, null, 0, 0, null, null, sumOfSquares);
    }
}
