package org.sparkmoe.engine;

import java.io.Serializable;

import org.sparkmoe.core.param.Parameters;

/** The gradients of one expert shard's experts for a step ({@code grads[i]} belongs to {@code experts[i]}). */
public record ExpertGrads(int shard, int[] experts, Parameters[] grads) implements Serializable {

    double sumOfSquares() {
        double s = 0;
        for (Parameters g : grads) s += g.flat().sumOfSquares();
        return s;
    }
}
