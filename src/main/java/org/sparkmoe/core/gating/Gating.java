package org.sparkmoe.core.gating;

import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * A gating network G (paper section 2.1): for each input row, the sparse set of experts that
 * process it and their weights, plus the batch statistics behind the balancing losses (section 4).
 *
 * <p>The statistics are an additive vector: each block of rows adds its contribution, and the sum
 * over the whole mini-batch (across all partitions) goes to {@link #balance}, which returns the
 * losses and their gradient with respect to the statistics. That gradient is handed back to
 * {@link #backward} for every block. This is what lets a distributed step compute CV over the
 * global batch, never per partition.
 */
public interface Gating extends java.io.Serializable {

    /** Number of (leaf) experts this gate routes to. */
    int numExperts();

    /** Slots per row in {@link GatingState}: the most experts one row can be sent to. */
    int slotsPerRow();

    /** Length of the additive balance statistics vector. */
    int statsSize();

    void declare(ParameterLayout.Builder layout);

    /** Initial values: zero gating weights (paper appendix A: "no signal and some noise"). */
    void initialise(Parameters p, SplittableRandom random);

    GatingState newState(Precision precision);

    /**
     * Gates the rows of {@code x}; fills {@code state} and <em>adds</em> this block's balance
     * statistics into {@code stats[0, statsSize())}.
     */
    void forward(Parameters p, Matrix x, long[] exampleIds, GateNoise noise, GatingState state, double[] stats);

    /** The balancing losses of a whole batch from its summed statistics. */
    BalanceResult balance(double[] stats, BalanceWeights weights);

    /**
     * Backward pass: uses {@code state.gateGradient()} (dL/dG per slot) and
     * {@code statsGradient} (dL/dstats from {@link #balance}); accumulates the gating parameter
     * gradients into {@code grad} and dL/dx into {@code dx} when it is non-null.
     */
    void backward(Parameters p, Matrix x, GatingState state, double[] statsGradient, Parameters grad, Matrix dx);
}
