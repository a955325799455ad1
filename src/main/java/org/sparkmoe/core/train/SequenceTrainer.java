package org.sparkmoe.core.train;

import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.recurrent.RecurrentState;
import org.sparkmoe.core.recurrent.SequenceBatch;
import org.sparkmoe.core.recurrent.SequenceStepResult;

/**
 * Single-JVM training of a {@link RecurrentLanguageModel} over windows (truncated BPTT): the oracle
 * a distributed engine must agree with, step for step. Step t uses gate noise and dropout of
 * {@code GateNoise.training(seed, t)}, clips by global norm and updates every group exactly as
 * {@link ReferenceTrainer#applyUpdate} does; the LSTM state of the S training sequences is carried
 * from step to step ({@link #recurrentState()}, part of what a checkpoint holds).
 */
public final class SequenceTrainer {
    private final RecurrentLanguageModel model;
    private final TrainerConfig config;
    private final RecurrentLanguageModel.Workspace workspace;
    private final ModelParameters grad;
    private final RecurrentState recurrent;
    private TrainingState state;

    /** Fresh parameters (from the config's seed), zero optimiser state and zero LSTM state for S = {@code sequences}. */
    public SequenceTrainer(RecurrentLanguageModel model, TrainerConfig config, int sequences) {
        this(model, config, initialState(model, config), model.newState(config.precision(), sequences));
    }

    /** Resumes from a checkpoint: parameters, optimiser state and step, and the carried LSTM state. */
    public SequenceTrainer(RecurrentLanguageModel model, TrainerConfig config, TrainingState state, RecurrentState recurrent) {
        this.model = model;
        this.config = config;
        this.state = state;
        this.recurrent = recurrent;
        this.workspace = model.newWorkspace(config.precision());
        this.grad = state.params().zerosLike();
    }

    /** Fresh parameters (from the config's seed) and zero optimiser state at step 0. */
    public static TrainingState initialState(RecurrentLanguageModel model, TrainerConfig config) {
        return TrainingState.fresh(model.initialise(config.precision(), config.seed()), config.optimiser());
    }

    public TrainingState state() {
        return state;
    }

    /** The carried LSTM state of the training sequences (live, updated by every step). */
    public RecurrentState recurrentState() {
        return recurrent;
    }

    /** What one step computed: objective parts, gradient norm before clipping, learning rate. */
    public record StepOutcome(SequenceStepResult result, double gradientNorm, double learningRate) {
    }

    /** One training step on the next window of the S training sequences. */
    public StepOutcome step(SequenceBatch batch) {
        grad.clear();
        long step = state.step() + 1;
        SequenceStepResult r = model.forwardBackward(state.params(), batch, recurrent, GateNoise.training(config.seed(), step),
                workspace, grad);
        double norm = Math.sqrt(grad.sumOfSquares());
        ReferenceTrainer.applyUpdate(config, state, grad, norm, step);
        state = new TrainingState(state.params(), state.sharedOptimiser(), state.expertOptimisers(), step);
        return new StepOutcome(r, norm, config.schedule().rate(step));
    }

    /**
     * Per-token perplexity over all windows of {@code heldOut} (which must not cycle), from a zero
     * state, without noise or dropout: exp(total cross-entropy / target tokens).
     */
    public double perplexity(DocumentStreams heldOut, int sequences) {
        RecurrentState s = model.newState(config.precision(), sequences);
        double loss = 0;
        long tokens = 0;
        while (heldOut.hasNext()) {
            SequenceStepResult r = model.evaluate(state.params(), heldOut.next(), s, workspace);
            loss += r.taskLossSum();
            tokens += r.tokens();
        }
        return Math.exp(loss / tokens);
    }
}
