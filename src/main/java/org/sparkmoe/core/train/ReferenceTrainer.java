package org.sparkmoe.core.train;

import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.optim.GradientClipping;

/**
 * Single-JVM training over in-memory batches: the oracle a distributed engine must agree with,
 * step for step. Step t uses the gating noise {@code GateNoise.training(seed, t)}, computes the
 * gradient of the batch objective, clips it by global norm over all groups, and applies the
 * optimiser to the shared group and to every expert group.
 */
public final class ReferenceTrainer {
    private final MoENetwork network;
    private final TrainerConfig config;
    private final MoENetwork.Workspace workspace;
    private final ModelParameters grad;
    private TrainingState state;

    public ReferenceTrainer(MoENetwork network, TrainerConfig config) {
        this(network, config, initialState(network, config));
    }

    public ReferenceTrainer(MoENetwork network, TrainerConfig config, TrainingState state) {
        this.network = network;
        this.config = config;
        this.state = state;
        this.workspace = network.newWorkspace(config.precision());
        this.grad = state.params().zerosLike();
    }

    /** Fresh parameters (from the config's seed) and zero optimiser state at step 0. */
    public static TrainingState initialState(MoENetwork network, TrainerConfig config) {
        return TrainingState.fresh(network.initialise(config.precision(), config.seed()), config.optimiser());
    }

    public TrainingState state() {
        return state;
    }

    public MoENetwork network() {
        return network;
    }

    public TrainerConfig config() {
        return config;
    }

    /** The gradient of the objective at the current parameters for the next step (no update). */
    public StepOutcome gradient(Batch batch) {
        grad.clear();
        long step = state.step() + 1;
        MoENetwork.StepResult r = network.forwardBackward(state.params(), batch,
                GateNoise.training(config.seed(), step), workspace, grad);
        return new StepOutcome(r, grad, Math.sqrt(grad.sumOfSquares()), config.schedule().rate(step));
    }

    /** One training step on {@code batch}. */
    public StepOutcome step(Batch batch) {
        StepOutcome o = gradient(batch);
        long step = state.step() + 1;
        applyUpdate(config, state, grad, o.gradientNorm(), step);
        state = new TrainingState(state.params(), state.sharedOptimiser(), state.expertOptimisers(), step);
        return o;
    }

    /**
     * Clips {@code grad} (whose global norm is {@code norm}) and applies the optimiser to every
     * group of {@code state}: shared by this trainer and the distributed engine's driver.
     */
    public static void applyUpdate(TrainerConfig config, TrainingState state, ModelParameters grad, double norm, long step) {
        double scale = config.clipNorm() > 0 ? GradientClipping.scaleFor(config.clipNorm(), norm * norm) : 1.0;
        if (scale != 1.0) {
            grad.shared().flat().scale(scale);
            for (var e : grad.experts()) e.flat().scale(scale);
        }
        double lr = config.schedule().rate(step);
        ModelParameters p = state.params();
        config.optimiser().step(p.shared(), grad.shared(), state.sharedOptimiser(), step, lr);
        for (int e = 0; e < p.experts().length; e++) {
            config.optimiser().step(p.experts()[e], grad.experts()[e], state.expertOptimisers()[e], step, lr);
        }
    }

    /** Loss and balance statistics of a batch at the current parameters, without noise. */
    public MoENetwork.StepResult evaluate(Batch batch) {
        return network.evaluate(state.params(), batch, GateNoise.none(), workspace);
    }

    /**
     * What one step computed.
     *
     * @param result        objective parts and expert batch sizes
     * @param gradient      the gradient (clipped in place by {@link #step}); a shared buffer, valid until the next step
     * @param gradientNorm  its global L2 norm over all groups, before clipping
     * @param learningRate  the rate this step used
     */
    public record StepOutcome(MoENetwork.StepResult result, ModelParameters gradient, double gradientNorm,
                              double learningRate) {
    }
}
