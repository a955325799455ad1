package org.sparkmoe.engine;

import java.io.Serializable;

import org.sparkmoe.core.param.Parameters;

/**
 * The gradients of one expert shard's experts for a step ({@code grads[i]} belongs to {@code experts[i]}).
 * {@code knownSumOfSquares}: their sum of squares when the producer computed it while the gradients
 * were still in cache ({@link ShardStep#backward}), NaN when not known (then {@link #sumOfSquares()}
 * reads them once more); not serialised, since it is the same value either way.
 */
public record ExpertGrads(int shard, int[] experts, Parameters[] grads, double knownSumOfSquares)
        implements Serializable, org.apache.spark.util.KnownSizeEstimation {

    public ExpertGrads(int shard, int[] experts, Parameters[] grads) {
        this(shard, experts, grads, Double.NaN);
    }

    /** The gradient vectors, counted once (Spark's estimate would walk each element's layout too). */
    @Override
    public long estimatedSize() {
        long b = 64 + 4L * experts.length;
        for (Parameters g : grads) b += StepMemory.bytes(g.flat());
        return b;
    }

    /** The sum of squares of all the gradients, expert by expert in array order (the order {@link ShardStep#backward} sums in). */
    double sumOfSquares() {
        if (!Double.isNaN(knownSumOfSquares)) return knownSumOfSquares;
        double s = 0;
        for (Parameters g : grads) s += g.flat().sumOfSquares();
        return s;
    }
}
