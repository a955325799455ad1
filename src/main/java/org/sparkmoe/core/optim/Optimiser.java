package org.sparkmoe.core.optim;

import org.sparkmoe.core.param.Parameters;

/**
 * Updates one parameter group in place from its gradient. Stateless itself: the moment vectors
 * live in an {@link OptimiserState} per group, so the shared parameters and each expert shard
 * (possibly on different machines) are updated independently with the same optimiser.
 */
public interface Optimiser extends java.io.Serializable {

    /** Fresh (zero) state for a group with {@code params}' layout and precision. */
    OptimiserState newState(Parameters params);

    /**
     * One update of {@code params} in place.
     *
     * @param params       the group's parameters, updated in place
     * @param grad         the gradient, same layout and precision; not modified
     * @param state        this group's state from {@link #newState}, updated in place
     * @param step         the 1-based step number (bias corrections and schedules use it)
     * @param learningRate the step size for this step (from a {@link LearningRateSchedule})
     */
    void step(Parameters params, Parameters grad, OptimiserState state, long step, double learningRate);
}
