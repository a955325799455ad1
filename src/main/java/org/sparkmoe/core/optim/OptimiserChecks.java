package org.sparkmoe.core.optim;

import org.sparkmoe.core.param.Parameters;

/** Argument checks shared by the optimisers. */
final class OptimiserChecks {
    private OptimiserChecks() {
    }

    /** Argument checks shared by the {@link Optimiser#step} implementations. */
    static void checkStep(Parameters params, Parameters grad, OptimiserState state, long step, double learningRate) {
        if (step < 1) {
            throw new IllegalArgumentException("step counts from 1, got " + step);
        }
        if (!(learningRate >= 0) || Double.isInfinite(learningRate)) {
            throw new IllegalArgumentException("learning rate must be finite and >= 0, got " + learningRate);
        }
        if (!grad.layout().equals(params.layout())) {
            throw new IllegalArgumentException("gradient layout " + grad.layout() + " differs from parameter layout " + params.layout());
        }
        if (grad.precision() != params.precision()) {
            throw new IllegalArgumentException("gradient precision " + grad.precision() + " differs from parameter precision " + params.precision());
        }
        if (!state.layout().equals(params.layout())) {
            throw new IllegalArgumentException("optimiser state is for layout " + state.layout() + ", not " + params.layout());
        }
        for (OptimiserState.Slot s : state.slots()) {
            if (s.values().precision() != params.precision()) {
                throw new IllegalArgumentException("optimiser slot '" + s.name() + "' is " + s.values().precision()
                        + ", parameters are " + params.precision());
            }
        }
    }
}
