package org.sparkmoe.core.network;

import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.Parameters;

/**
 * All parameters of an {@link MoENetwork}: the shared (dense) group (input layer, gates, head)
 * and one group per expert. Gradients use the same type.
 */
public record ModelParameters(Parameters shared, Parameters[] experts) implements java.io.Serializable {

    public ModelParameters zerosLike() {
        Parameters[] e = new Parameters[experts.length];
        for (int i = 0; i < e.length; i++) e[i] = experts[i].zerosLike();
        return new ModelParameters(shared.zerosLike(), e);
    }

    public ModelParameters copy() {
        Parameters[] e = new Parameters[experts.length];
        for (int i = 0; i < e.length; i++) e[i] = experts[i].copy();
        return new ModelParameters(shared.copy(), e);
    }

    public ModelParameters to(Precision p) {
        Parameters[] e = new Parameters[experts.length];
        for (int i = 0; i < e.length; i++) e[i] = experts[i].to(p);
        return new ModelParameters(shared.to(p), e);
    }

    /** Sets every value to zero (gradients between steps). */
    public void clear() {
        shared.flat().fill(0);
        for (Parameters e : experts) e.flat().fill(0);
    }

    /** Sum of squares of all values, for global-norm clipping. */
    public double sumOfSquares() {
        double s = shared.flat().sumOfSquares();
        for (Parameters e : experts) s += e.flat().sumOfSquares();
        return s;
    }

    /** Number of scalars in all groups. */
    public long size() {
        long s = shared.layout().size();
        for (Parameters e : experts) s += e.layout().size();
        return s;
    }
}
