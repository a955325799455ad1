package org.sparkmoe.engine;

import java.io.Serializable;

import org.sparkmoe.core.param.Parameters;

/** The gradients of one expert shard's experts for a step ({@code grads[i]} belongs to {@code experts[i]}). */
public record ExpertGrads(int shard, int[] experts, Parameters[] grads)
        implements Serializable, org.apache.spark.util.KnownSizeEstimation {

    /** The gradient vectors, counted once (Spark's estimate would walk each element's layout too). */
    @Override
    public long estimatedSize() {
        long b = 64 + 4L * experts.length;
        for (Parameters g : grads) b += StepMemory.bytes(g.flat());
        return b;
    }

    double sumOfSquares() {
        double s = 0;
        for (Parameters g : grads) s += g.flat().sumOfSquares();
        return s;
    }
}
