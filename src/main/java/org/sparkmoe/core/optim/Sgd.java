package org.sparkmoe.core.optim;

import java.util.List;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.param.Parameters;

/**
 * Stochastic gradient descent, optionally with (heavy-ball) momentum:
 * {@code u = mu u + g; p -= lr u}; with {@code mu = 0} simply {@code p -= lr g} and no state.
 */
public final class Sgd implements Optimiser {
    public static final String VELOCITY = "velocity";

    private final double momentum;

    /** Plain SGD. */
    public Sgd() {
        this(0);
    }

    /** @param momentum mu in [0, 1); 0 for plain SGD */
    public Sgd(double momentum) {
        if (!(momentum >= 0 && momentum < 1)) {
            throw new IllegalArgumentException("momentum must be in [0, 1), got " + momentum);
        }
        this.momentum = momentum;
    }

    public double momentum() {
        return momentum;
    }

    @Override
    public OptimiserState newState(Parameters params) {
        return new OptimiserState(params.layout(), momentum == 0
                ? List.of()
                : List.of(new OptimiserState.Slot(VELOCITY, params.zerosLike())));
    }

    @Override
    public void step(Parameters params, Parameters grad, OptimiserState state, long step, double learningRate) {
        OptimiserChecks.checkStep(params, grad, state, step, learningRate);
        if (momentum == 0) {
            params.flat().axpy(-learningRate, grad.flat());
            return;
        }
        Matrix u = state.slot(VELOCITY).flat();
        u.scale(momentum);
        u.axpy(1, grad.flat());
        params.flat().axpy(-learningRate, u);
    }

    @Override
    public String toString() {
        return "Sgd{momentum=" + momentum + "}";
    }
}
