package org.sparkmoe.core.train;

import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.optim.OptimiserState;

/**
 * Everything a checkpoint holds to resume training exactly: parameters, the optimiser state of
 * every group (shared and each expert) and the number of steps taken.
 */
public record TrainingState(ModelParameters params, OptimiserState sharedOptimiser, OptimiserState[] expertOptimisers,
                            long step) {

    public TrainingState copy() {
        OptimiserState[] e = new OptimiserState[expertOptimisers.length];
        for (int i = 0; i < e.length; i++) e[i] = expertOptimisers[i].copy();
        return new TrainingState(params.copy(), sharedOptimiser.copy(), e, step);
    }
}
