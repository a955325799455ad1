package org.sparkmoe.core.network;

import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The layer below the MoE layer (docs/DESIGN.md section 5): maps a {@link Batch}'s inputs to the
 * {@code d}-dimensional rows the gate and experts see. Its parameters are part of the shared
 * (dense) parameters, declared under names with a common prefix.
 */
public interface InputLayer {

    /** d: width of the rows this layer produces. */
    int outputDim();

    /** Adds this layer's tensors to the shared layout. */
    void declare(ParameterLayout.Builder layout);

    /** Initial values for this layer's tensors in {@code p}. */
    void initialise(Parameters p, SplittableRandom random);

    /** out (batch.size() x d) = the layer's output for the batch. */
    void forward(Parameters p, Batch batch, Matrix out);

    /** Accumulates this layer's parameter gradients for dL/d(out) = {@code dOut}. */
    void backward(Parameters p, Batch batch, Matrix dOut, Parameters grad);
}
