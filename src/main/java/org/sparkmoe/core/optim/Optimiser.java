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

    /**
     * One update written into other buffers: {@code to} and {@code stateTo} receive exactly what
     * {@link #step} would leave in copies of {@code from} and {@code stateFrom} for the gradient
     * {@code gradScale * grad} (the gradient scaled first, as {@code Matrix.scale} does);
     * {@code from}, {@code stateFrom} and {@code grad} are not modified. The distributed engine keeps
     * the previous values readable for recomputation this way without copying them each step. This
     * default copies and then steps; optimisers override it with one fused pass.
     */
    default void stepInto(Parameters from, OptimiserState stateFrom, Parameters grad, double gradScale,
                          Parameters to, OptimiserState stateTo, long step, double learningRate) {
        to.flat().copyFrom(from.flat());
        for (int i = 0; i < stateFrom.slots().size(); i++) {
            stateTo.slots().get(i).values().flat().copyFrom(stateFrom.slots().get(i).values().flat());
        }
        Parameters g = grad;
        if (gradScale != 1.0) {
            g = grad.copy();
            g.flat().scale(gradScale);
        }
        step(to, g, stateTo, step, learningRate);
    }
}
