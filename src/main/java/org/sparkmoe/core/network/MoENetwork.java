package org.sparkmoe.core.network;

import java.io.Serializable;
import java.util.SplittableRandom;

import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceResult;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.Gating;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The network of docs/DESIGN.md section 5: input layer -> MoE layer -> output head. Everything but the
 * experts is shared (dense) parameters. The objective of a batch of B examples is
 * {@code mean task loss + L_importance + L_load} (paper eq. 6, 7, 11 added to the task loss).
 * Immutable and serialisable; per-pass buffers live in a {@link Workspace}.
 *
 * <p><b>Example weights</b> ({@link Batch#weights()}, MLlib's {@code weightCol}) act on the task loss
 * only: its mean becomes {@code sum_i w_i L_i / sum_i w_i}, so a row of weight 2 counts as that row
 * twice and a row of weight 0 adds nothing to it. The balance losses of section 4 and appendix A are
 * deliberately <em>not</em> weighted: Importance (eq. 6) and Load (eq. 8-10) measure how the batch's
 * rows are spread over the experts, and every routed row costs its experts the same compute and
 * memory whatever its weight (a zero-weight row is still gated and dispatched), which is what
 * section 4 balances ("balanced loading" for memory and performance on distributed hardware).
 * Weighting them would also let a skewed weight column push the gate towards an imbalance the
 * hardware pays for. So with balance losses on, weight 0 equals removing a row for the task loss
 * and its gradients, not for the balance terms.
 */
public final class MoENetwork implements Serializable {
    private static final long serialVersionUID = 1L;

    private final InputLayer input;
    private final MoELayer moe;
    private final OutputHead head;
    private final ParameterLayout sharedLayout;

    public MoENetwork(InputLayer input, MoELayer moe, OutputHead head) {
        if (input.outputDim() != moe.expert().dim()) {
            throw new IllegalArgumentException("input layer produces " + input.outputDim() + " columns but experts take "
                    + moe.expert().dim());
        }
        this.input = input;
        this.moe = moe;
        this.head = head;
        ParameterLayout.Builder b = ParameterLayout.builder();
        input.declare(b);
        moe.gating().declare(b);
        head.declare(b);
        this.sharedLayout = b.build();
    }

    /**
     * A dense baseline with the same compute per example as an MoE with {@code k} experts of
     * hidden size {@code h}: one always-on expert of hidden size {@code k * h}.
     */
    public static MoENetwork dense(InputLayer input, int hidden, boolean residual, OutputHead head) {
        Gating single = NoisyTopKGating.softmax(input.outputDim(), 1);
        return new MoENetwork(input, new MoELayer(single, new Expert(input.outputDim(), hidden), residual,
                BalanceWeights.NONE), head);
    }

    public InputLayer input() {
        return input;
    }

    public MoELayer moe() {
        return moe;
    }

    public OutputHead head() {
        return head;
    }

    public int numExperts() {
        return moe.numExperts();
    }

    public ParameterLayout sharedLayout() {
        return sharedLayout;
    }

    /** Fresh parameters: shared group, then expert e from its own stream of {@code seed}. */
    public ModelParameters initialise(Precision precision, long seed) {
        Parameters shared = initialiseShared(precision, seed);
        Parameters[] experts = new Parameters[numExperts()];
        for (int e = 0; e < experts.length; e++) {
            experts[e] = moe.expert().initialise(precision, new SplittableRandom(expertSeed(seed, e)));
        }
        return new ModelParameters(shared, experts);
    }

    /** The shared group of {@link #initialise}, without allocating any expert. */
    public Parameters initialiseShared(Precision precision, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        Parameters shared = sharedLayout.allocate(precision);
        input.initialise(shared, random.split());
        moe.gating().initialise(shared, random.split());
        head.initialise(shared, random.split());
        return shared;
    }

    /** The seed of expert e's initial values: each expert can be initialised where it lives. */
    public static long expertSeed(long seed, int expert) {
        return seed * 1_000_003L + expert;
    }

    public Workspace newWorkspace(Precision precision) {
        return new Workspace(precision);
    }

    /**
     * One forward and backward pass over a whole batch (the single-JVM reference step):
     * accumulates the gradient of the batch objective into {@code grad} (which the caller zeroes).
     */
    public StepResult forwardBackward(ModelParameters params, Batch batch, GateNoise noise, Workspace ws, ModelParameters grad) {
        int m = batch.size();
        if (m == 0) {
            throw new IllegalArgumentException("empty batch");
        }
        double[] stats = gateStatistics(params, batch, noise, ws);
        BalanceResult balance = moe.balance(stats);
        double normaliser = batch.weightSum();
        // x and the gates of gateStatistics are still in ws: run the rest without gating again
        double lossSum = backwardFromGates(params, batch, ws, grad, OutputHead.lossScale(normaliser), balance.statsGradient());
        return new StepResult(m, normaliser, lossSum, balance, expertBatchSizes(ws));
    }

    /** The additive balance statistics of a batch (input layer and gate forward only). */
    public double[] gateStatistics(ModelParameters params, Batch batch, GateNoise noise, Workspace ws) {
        return gate(params.shared(), batch, noise, ws);
    }

    /**
     * The input layer and the gate forward into {@code ws} (x and the gating state, which
     * {@link #forwardBackwardGated} reads): the batch's additive balance statistics. Needs only the
     * shared parameters.
     */
    public double[] gate(Parameters shared, Batch batch, GateNoise noise, Workspace ws) {
        Matrix x = ws.x(batch.size());
        input.forward(shared, batch, x);
        double[] stats = new double[moe.gating().statsSize()];
        moe.gating().forward(shared, x, batch.exampleIds(), noise, ws.moe.gate(), stats);
        return stats;
    }

    /**
     * {@link #forwardBackwardPart} without gating again: {@code ws} holds x and the gates of
     * {@link #gate} for this {@code batch} (the distributed step gates a partition's rows before the
     * batch-global balance statistics are known, and runs the rest once they are).
     */
    public double forwardBackwardGated(ModelParameters params, Batch batch, Workspace ws, ModelParameters grad, double lossScale,
                                       double[] statsGradient) {
        return backwardFromGates(params, batch, ws, grad, lossScale, statsGradient);
    }

    /**
     * Forward and backward over one part of a larger batch, given the balance-loss gradient of the
     * whole batch ({@code statsGradient}) and {@code lossScale = 1/W} for the whole batch's weight
     * sum W (its size B without weights; {@link OutputHead#lossScale}):
     * accumulates this part's share of the gradient into {@code grad}; returns the part's unscaled
     * weighted task-loss sum. Parts' gradients add up to the whole batch's.
     */
    public double forwardBackwardPart(ModelParameters params, Batch batch, GateNoise noise, Workspace ws,
                                      ModelParameters grad, double lossScale, double[] statsGradient) {
        gate(params.shared(), batch, noise, ws);
        return backwardFromGates(params, batch, ws, grad, lossScale, statsGradient);
    }

    /** The rest of {@link #forwardBackwardPart} once x ({@code ws.x}) and the gates ({@code ws.moe().gate()}) are filled. */
    private double backwardFromGates(ModelParameters params, Batch batch, Workspace ws, ModelParameters grad, double lossScale,
                                     double[] statsGradient) {
        int m = batch.size();
        Matrix x = ws.x(m);
        Matrix y = ws.y(m);
        moe.forwardGated(params.experts(), x, ws.moe, y);
        Matrix dY = ws.dY(m);
        double lossSum = head.lossAndGradient(params.shared(), y, batch, lossScale, dY, grad.shared());
        Matrix dx = ws.dx(m);
        moe.backward(params.shared(), params.experts(), x, ws.moe, dY, statsGradient, grad.shared(), grad.experts(), dx);
        input.backward(params.shared(), batch, dx, grad.shared());
        return lossSum;
    }

    /** Forward pass only (no gradients): loss and balance statistics of a batch. */
    public StepResult evaluate(ModelParameters params, Batch batch, GateNoise noise, Workspace ws) {
        int m = batch.size();
        Matrix y = forward(params, batch, noise, ws);
        double[] stats = ws.lastStats;
        Matrix dY = ws.dY(m);
        // lossScale 0: the head's gradients into a scratch group are all zero and discarded
        double lossSum = head.lossAndGradient(params.shared(), y, batch, 0, dY, ws.scratchGrad(params.shared()));
        return new StepResult(m, batch.weightSum(), lossSum, moe.balance(stats), expertBatchSizes(ws));
    }

    /** Predictions (class probabilities or values) for a batch; no noise. */
    public Matrix predict(ModelParameters params, Batch batch, Workspace ws, Matrix out) {
        Matrix y = forward(params, batch, GateNoise.none(), ws);
        head.predict(params.shared(), y, out);
        return out;
    }

    private Matrix forward(ModelParameters params, Batch batch, GateNoise noise, Workspace ws) {
        int m = batch.size();
        Matrix x = ws.x(m);
        Matrix y = ws.y(m);
        input.forward(params.shared(), batch, x);
        ws.lastStats = new double[moe.gating().statsSize()];
        moe.forward(params.shared(), params.experts(), x, batch.exampleIds(), noise, ws.moe, y, ws.lastStats);
        return y;
    }

    /** Rows each expert received in the last forward pass of {@code ws}. */
    public int[] expertBatchSizes(Workspace ws) {
        int[] sizes = new int[numExperts()];
        for (int e = 0; e < sizes.length; e++) sizes[e] = ws.moe.routing().count(e);
        return sizes;
    }

    /**
     * The objective's parts for one batch: {@code weightSum} is the task loss's normaliser (the
     * example count without weights), {@code taskLossSum} the weighted sum {@code sum_i w_i L_i}.
     */
    public record StepResult(int examples, double weightSum, double taskLossSum, BalanceResult balance, int[] expertBatchSizes) {
        /** {@code sum_i w_i L_i / sum_i w_i} (0 when every weight is 0). */
        public double meanTaskLoss() {
            return weightSum > 0 ? taskLossSum / weightSum : 0;
        }

        /** mean task loss + L_importance + L_load: what the gradient is of. */
        public double objective() {
            return meanTaskLoss() + balance.importanceLoss() + balance.loadLoss();
        }
    }

    /** Buffers for one pass of this network, reused across steps; one per thread. */
    public final class Workspace {
        private final Precision precision;
        private final MoELayer.Workspace moe;
        private Matrix x, y, dY, dx;
        private double[] lastStats;
        private Parameters scratchGrad;

        Workspace(Precision precision) {
            this.precision = precision;
            this.moe = MoENetwork.this.moe.newWorkspace(precision);
        }

        Matrix x(int m) {
            return (x = rows(x, m)).topRows(m);
        }

        Matrix y(int m) {
            return (y = rows(y, m)).topRows(m);
        }

        Matrix dY(int m) {
            return (dY = rows(dY, m)).topRows(m);
        }

        Matrix dx(int m) {
            return (dx = rows(dx, m)).topRows(m);
        }

        /** A buffer of at least m rows of width d (the MoE layer's width). */
        private Matrix rows(Matrix current, int m) {
            return Buffers.ensureRows(current, precision, m, input.outputDim());
        }

        Parameters scratchGrad(Parameters like) {
            if (scratchGrad == null || !scratchGrad.layout().equals(like.layout()) || scratchGrad.precision() != like.precision()) {
                scratchGrad = like.zerosLike();
            }
            return scratchGrad;
        }

        /** The MoE layer's workspace: the last gate and routing. */
        public MoELayer.Workspace moe() {
            return moe;
        }
    }
}
