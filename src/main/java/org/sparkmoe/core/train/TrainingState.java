package org.sparkmoe.core.train;

import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.optim.Optimiser;
import org.sparkmoe.core.optim.OptimiserState;

/**
 * Everything a checkpoint holds to resume training exactly: parameters, the optimiser state of
 * every group (shared and each expert) and the number of steps taken.
 */
public record TrainingState(ModelParameters params, OptimiserState sharedOptimiser, OptimiserState[] expertOptimisers,
                            long step) implements java.io.Serializable {

    /** {@code params} with zero optimiser state for every group, at step 0. */
    public static TrainingState fresh(ModelParameters params, Optimiser optimiser) {
        OptimiserState[] experts = new OptimiserState[params.experts().length];
        for (int e = 0; e < experts.length; e++) experts[e] = optimiser.newState(params.experts()[e]);
        return new TrainingState(params, optimiser.newState(params.shared()), experts, 0);
    }

    public TrainingState copy() {
        OptimiserState[] e = new OptimiserState[expertOptimisers.length];
        for (int i = 0; i < e.length; i++) e[i] = expertOptimisers[i].copy();
        return new TrainingState(params.copy(), sharedOptimiser.copy(), e, step);
    }
}
