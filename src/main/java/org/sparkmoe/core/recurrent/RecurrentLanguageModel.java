package org.sparkmoe.core.recurrent;

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
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.SoftmaxCrossEntropyHead;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The paper's recurrent language model (section 5.1, appendix C): word embedding -> LSTM -> MoE ->
 * LSTM -> softmax, all widths one dimension d. Every layer but the softmax is followed by dropout,
 * and the previous layer's output is added after dropout (a residual connection around each layer):
 *
 * <pre>
 *   x0 = drop(E[token])     x1 = drop(LSTM1(x0)) + x0     x2 = drop(MoE(x1)) + x1
 *   x3 = drop(LSTM2(x2)) + x2     p(next) = softmax(x3 W + b)
 * </pre>
 *
 * Without an MoE (the LSTM-LSTM baseline of table 7) {@code x2 = x1}; MoE-1-Wide is one always-on
 * expert of hidden size k*h ({@link #moeOneWide}). The MoE is applied to all S*T rows of a window
 * at once ("convolutionally", section 3.1): one gate and one dispatch per step, experts see
 * k*S*T/n rows. The objective of a window is the mean next-token cross-entropy over the rows with a
 * target plus the balancing losses (eq. 6, 7, 11).
 *
 * <p>Training randomness is one {@link GateNoise}: when it is enabled (training) the dropout masks
 * are keyed by its seed and step and each row's global token id; {@link GateNoise#none()} turns off
 * both noise and dropout (evaluation). The LSTM state is a {@link RecurrentState} the caller owns:
 * each pass reads it as the state entering the window (zeroing sequences that start a document) and
 * overwrites it with the state leaving the window. Immutable and serialisable; buffers live in a
 * {@link Workspace}.
 *
 * <p>Shared parameters: {@value #EMBEDDING} ({@code V x d}), the two LSTMs ({@code lstm1.*},
 * {@code lstm2.*}), the gate and the softmax ({@code head.*}); each expert has its own group.
 */
public final class RecurrentLanguageModel implements Serializable {
    private static final long serialVersionUID = 1L;

    public static final String EMBEDDING = "lm.embedding";
    /** Dropout layer keys: the same token gets independent masks in each layer. */
    private static final int DROP_EMBEDDING = 0, DROP_LOWER = 1, DROP_MOE = 2, DROP_UPPER = 3;

    private final int vocabulary;
    private final int dim;
    private final double dropRate;
    private final LstmLayer lower;
    private final LstmLayer upper;
    private final MoELayer moe;
    private final SoftmaxCrossEntropyHead head;
    private final ParameterLayout sharedLayout;

    /**
     * @param vocabulary V, token ids 0..V-1 (inputs and targets)
     * @param dim        d: embedding, LSTM units, MoE input and output
     * @param moe        the MoE between the LSTMs (not residual itself: the model adds the residual
     *                   after dropout); null for the LSTM-LSTM baseline
     * @param dropRate   DropProb of appendix C, in [0, 1)
     */
    public RecurrentLanguageModel(int vocabulary, int dim, MoELayer moe, double dropRate) {
        if (vocabulary < 2) throw new IllegalArgumentException("vocabulary size V must be at least 2, got " + vocabulary);
        if (dim <= 0) throw new IllegalArgumentException("model width d must be positive, got " + dim);
        if (!(dropRate >= 0 && dropRate < 1)) throw new IllegalArgumentException("dropout rate must be in [0, 1), got " + dropRate);
        if ((long) vocabulary * dim > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("embedding " + vocabulary + " x " + dim + " exceeds 2^31 - 1 elements");
        }
        if (moe != null && moe.expert().dim() != dim) {
            throw new IllegalArgumentException("experts take " + moe.expert().dim() + " columns, the model width is d = " + dim);
        }
        if (moe != null && moe.residual()) {
            throw new IllegalArgumentException("the MoE layer must not be residual itself: the model adds its input after dropout");
        }
        this.vocabulary = vocabulary;
        this.dim = dim;
        this.dropRate = dropRate;
        this.lower = new LstmLayer("lstm1.", dim, dim);
        this.upper = new LstmLayer("lstm2.", dim, dim);
        this.moe = moe;
        this.head = new SoftmaxCrossEntropyHead(dim, vocabulary);
        ParameterLayout.Builder b = ParameterLayout.builder();
        b.add(EMBEDDING, vocabulary, dim);
        lower.declare(b);
        if (moe != null) moe.gating().declare(b);
        upper.declare(b);
        head.declare(b);
        this.sharedLayout = b.build();
    }

    /** LSTM - MoE - LSTM with the given gate (flat or hierarchical) and experts of hidden size h. */
    public static RecurrentLanguageModel withMoE(int vocabulary, int dim, Gating gating, int expertHidden,
                                                 BalanceWeights weights, double dropRate) {
        return new RecurrentLanguageModel(vocabulary, dim, new MoELayer(gating, new Expert(dim, expertHidden), false, weights),
                dropRate);
    }

    /** The LSTM - LSTM baseline: no MoE. */
    public static RecurrentLanguageModel lstmOnly(int vocabulary, int dim, double dropRate) {
        return new RecurrentLanguageModel(vocabulary, dim, null, dropRate);
    }

    /** MoE-1-Wide (table 7): one always-on expert of hidden size {@code hidden} (k*h for equal compute). */
    public static RecurrentLanguageModel moeOneWide(int vocabulary, int dim, int hidden, double dropRate) {
        return withMoE(vocabulary, dim, NoisyTopKGating.softmax(dim, 1), hidden, BalanceWeights.NONE, dropRate);
    }

    public int vocabulary() {
        return vocabulary;
    }

    public int dim() {
        return dim;
    }

    public double dropRate() {
        return dropRate;
    }

    /** The MoE layer, or null for the LSTM-LSTM baseline. */
    public MoELayer moe() {
        return moe;
    }

    public LstmLayer lowerLstm() {
        return lower;
    }

    public LstmLayer upperLstm() {
        return upper;
    }

    public int numExperts() {
        return moe == null ? 0 : moe.numExperts();
    }

    public ParameterLayout sharedLayout() {
        return sharedLayout;
    }

    /**
     * Multiply-adds per token of the forward pass: both LSTMs, the gate, the k active experts (all
     * experts for softmax gating) and the softmax. The basis of "equal compute per token".
     */
    public long forwardFlopsPerToken(int activeExperts) {
        long f = lower.forwardFlopsPerToken() + upper.forwardFlopsPerToken() + 2L * dim * vocabulary;
        if (moe != null) {
            f += moe.gating().numExperts() * 2L * dim + activeExperts * moe.expert().forwardFlopsPerRow();
        }
        return f;
    }

    /** Fresh parameters: shared group from {@code seed}, expert e from {@link MoENetwork#expertSeed}. */
    public ModelParameters initialise(Precision precision, long seed) {
        Parameters shared = initialiseShared(precision, seed);
        Parameters[] experts = new Parameters[numExperts()];
        for (int e = 0; e < experts.length; e++) {
            experts[e] = moe.expert().initialise(precision, new SplittableRandom(MoENetwork.expertSeed(seed, e)));
        }
        return new ModelParameters(shared, experts);
    }

    /** The shared group of {@link #initialise} alone (an engine initialises the experts where they live). */
    public Parameters initialiseShared(Precision precision, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        Parameters shared = sharedLayout.allocate(precision);
        normal(shared.get(EMBEDDING), 1.0 / Math.sqrt(dim), random.split());
        lower.initialise(shared, random.split());
        if (moe != null) moe.gating().initialise(shared, random.split());
        upper.initialise(shared, random.split());
        head.initialise(shared, random.split());
        return shared;
    }

    /** N(0, std^2), so each embedding row has expected squared norm 1 for std = 1/sqrt(d). */
    private static void normal(Matrix w, double std, SplittableRandom random) {
        for (int i = 0, n = w.size(); i < n; i++) {
            double u1 = 1.0 - random.nextDouble();
            w.setFlat(i, std * Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2 * Math.PI * random.nextDouble()));
        }
    }

    /** Zero state for S = {@code sequences}. */
    public RecurrentState newState(Precision precision, int sequences) {
        return new RecurrentState(precision, 2, sequences, dim);
    }

    public Workspace newWorkspace(Precision precision) {
        return new Workspace(precision);
    }

    /**
     * One forward and backward pass over a window (the single-JVM reference step): accumulates the
     * gradient of the window objective into {@code grad} (which the caller zeroes) and advances
     * {@code state} to the end of the window.
     */
    public SequenceStepResult forwardBackward(ModelParameters params, SequenceBatch batch, RecurrentState state, GateNoise noise,
                                              Workspace ws, ModelParameters grad) {
        double[] stats = gateStatistics(params, batch, state, noise, ws);
        BalanceResult balance = moe == null ? null : moe.balance(stats);
        int n = batch.targetCount();
        double loss = finish(params, batch, state, ws, grad, n == 0 ? 0 : 1.0 / n, balance == null ? null : balance.statsGradient());
        return new SequenceStepResult(n, loss, balance, expertBatchSizes(ws));
    }

    /**
     * The first phase of a distributed step: embedding, lower LSTM and the gate over the window;
     * returns this window's additive balance statistics (empty without an MoE). Reads {@code state}
     * (zeroing the sequences that start a document) but does not advance it.
     */
    public double[] gateStatistics(ModelParameters params, SequenceBatch batch, RecurrentState state, GateNoise noise, Workspace ws) {
        Matrix x1 = lowerForward(params.shared(), batch, state, noise, ws);
        if (moe == null) return new double[0];
        double[] stats = new double[moe.gating().statsSize()];
        moe.gating().forward(params.shared(), x1, batch.tokenIds(), noise, ws.moe.gate(), stats);
        return stats;
    }

    /**
     * Stage "below the MoE": embedding, dropout, lower LSTM, dropout, residual. Returns x1, the
     * {@code S*T x d} rows the gate sees and the experts take (a view into {@code ws}, valid until
     * its next pass). Reads {@code state} (zeroing the sequences that start a document) but does not
     * advance it; the dropout masks (on when {@code noise} is enabled) stay in {@code ws}.
     */
    public Matrix lowerForward(Parameters shared, SequenceBatch batch, RecurrentState state, GateNoise noise, Workspace ws) {
        int m = batch.rows(), s = batch.sequences();
        if (state.sequences() != s || state.layers() != 2) {
            throw new IllegalArgumentException("state holds " + state.sequences() + " sequences x " + state.layers()
                    + " layers; the window has " + s + " sequences and the model 2 LSTM layers");
        }
        int[] inputs = batch.inputs();
        int[] targets = batch.targets();
        for (int r = 0; r < m; r++) {
            if (inputs[r] < 0 || inputs[r] >= vocabulary) {
                throw new IllegalArgumentException("input token " + inputs[r] + " at step " + r / s + ", sequence " + r % s
                        + " is outside [0, " + vocabulary + ")");
            }
            if (targets[r] < -1 || targets[r] >= vocabulary) {
                throw new IllegalArgumentException("target " + targets[r] + " at step " + r / s + ", sequence " + r % s
                        + " is outside [0, " + vocabulary + ") (-1 marks padding)");
            }
        }
        for (int q = 0; q < s; q++) if (batch.startsDocument()[q]) state.reset(q);
        ws.prepare(m);
        ws.dropout = noise.enabled() ? Dropout.training(dropRate, noise.seed(), noise.step()) : Dropout.none();
        long[] ids = batch.tokenIds();
        ws.emb.gatherRows(shared.get(EMBEDDING), inputs, 0, m);
        ws.dropout.forward(ws.emb, null, ids, DROP_EMBEDDING, ws.mask0, ws.x0);
        Matrix l1 = lower.forward(shared, ws.x0, s, state.hidden(0), state.cell(0), ws.lowerWs);
        ws.dropout.forward(l1, ws.x0, ids, DROP_LOWER, ws.mask1, ws.x1);
        return ws.x1;
    }

    /**
     * Forward and backward over one part (some sequences) of a larger step, given the balance-loss
     * gradient of the whole step and {@code lossScale = 1/N} for the step's N target tokens:
     * accumulates this part's share of the gradient into {@code grad}, advances {@code state} and
     * returns the part's unscaled loss sum. Parts' gradients add up to the whole step's.
     */
    public double forwardBackwardPart(ModelParameters params, SequenceBatch batch, RecurrentState state, GateNoise noise,
                                      Workspace ws, ModelParameters grad, double lossScale, double[] statsGradient) {
        gateStatistics(params, batch, state, noise, ws);
        return finish(params, batch, state, ws, grad, lossScale, statsGradient);
    }

    /** Loss and balance statistics of a window without noise or dropout; advances {@code state}. */
    public SequenceStepResult evaluate(ModelParameters params, SequenceBatch batch, RecurrentState state, Workspace ws) {
        double[] stats = gateStatistics(params, batch, state, GateNoise.none(), ws);
        double loss = finish(params, batch, state, ws, null, 0, null);
        return new SequenceStepResult(batch.targetCount(), loss, moe == null ? null : moe.balance(stats), expertBatchSizes(ws));
    }

    /** Next-token probabilities ({@code S*T x V}, time-major) for every row of a window; no noise; advances {@code state}. */
    public Matrix predict(ModelParameters params, SequenceBatch batch, RecurrentState state, Workspace ws, Matrix out) {
        gateStatistics(params, batch, state, GateNoise.none(), ws);
        head.predict(params.shared(), upperForward(params.shared(), batch, state, ws, moeOutput(params, ws)), out);
        return out;
    }

    /** The MoE's output for the gates already in {@code ws}; null without an MoE. */
    private Matrix moeOutput(ModelParameters params, Workspace ws) {
        if (moe == null) return null;
        moe.forwardGated(params.experts(), ws.x1, ws.moe, ws.g);
        return ws.g;
    }

    /** Dropout and residual around the MoE output, upper LSTM, its dropout and residual; writes the state leaving the window. */
    private Matrix upperForward(Parameters shared, SequenceBatch batch, RecurrentState state, Workspace ws, Matrix moeOutput) {
        long[] ids = batch.tokenIds();
        Matrix x2 = ws.x1;
        if (moe != null) {
            ws.dropout.forward(moeOutput, ws.x1, ids, DROP_MOE, ws.mask2, ws.x2);
            x2 = ws.x2;
        }
        Matrix l2 = upper.forward(shared, x2, batch.sequences(), state.hidden(1), state.cell(1), ws.upperWs);
        ws.dropout.forward(l2, x2, ids, DROP_UPPER, ws.mask3, ws.x3);
        state.hidden(0).copyFrom(ws.lowerWs.finalHidden());
        state.cell(0).copyFrom(ws.lowerWs.finalCell());
        state.hidden(1).copyFrom(ws.upperWs.finalHidden());
        state.cell(1).copyFrom(ws.upperWs.finalCell());
        return ws.x3;
    }

    /**
     * Stage "above the MoE", after {@link #lowerForward} on {@code ws}: given the combined MoE output
     * {@code moeOutput} (sum of gate-weighted expert outputs, {@code S*T x d}, before dropout and
     * residual; null without an MoE), the rest of the forward pass, the loss of the rows with a
     * target and the backward pass down to the MoE. Accumulates {@code lossScale} times the upper
     * LSTM's and softmax's gradients into {@code sharedGrad} (null: loss only), leaves dL/d(MoE
     * output) in {@link Workspace#moeOutputGradient()}, advances {@code state} and returns the
     * unscaled loss sum.
     */
    public double upperForwardBackward(Parameters shared, SequenceBatch batch, RecurrentState state, Workspace ws,
                                       Matrix moeOutput, double lossScale, Parameters sharedGrad) {
        int m = batch.rows();
        Matrix x3 = upperForward(shared, batch, state, ws, moeOutput);
        int[] targets = batch.targets();
        int n = 0;
        for (int r = 0; r < m; r++) {
            if (targets[r] >= 0) {
                ws.valid[n] = r;
                ws.labels[n++] = targets[r];
            }
        }
        ws.dX3.fill(0);
        double loss = 0;
        if (n > 0) {
            Matrix hv = ws.headIn.topRows(n);
            Matrix dHv = ws.headGrad.topRows(n);
            hv.gatherRows(x3, ws.valid, 0, n);
            if (sharedGrad == null) return head.loss(shared, hv, ws.labels);
            loss = head.lossAndGradient(shared, hv, Batch.ofFeatures(n, batch.tokenIds(), hv, ws.labels), lossScale, dHv, sharedGrad);
            ws.dX3.scatterAddRows(dHv, ws.valid, 0, n, null);
        }
        if (sharedGrad == null) return loss;
        Matrix x2 = moe == null ? ws.x1 : ws.x2;
        Dropout.backward(ws.dX3, ws.mask3, ws.dTmp);
        upper.backward(shared, x2, ws.dTmp, ws.upperWs, sharedGrad, ws.dA);
        ws.dA.axpy(1, ws.dX3);                              // dA = dL/dx2, also the residual path's dL/dx1
        if (moe != null) Dropout.backward(ws.dA, ws.mask2, ws.dY);
        return loss;
    }

    /**
     * Stage "below the MoE", backwards, after {@link #upperForwardBackward} on {@code ws}: given
     * dL/dx1 through the MoE ({@code moeInputGradient}: the experts' input gradients scattered back
     * plus the gating network's; null without an MoE), adds the residual path and runs the lower
     * LSTM and the embedding backwards, accumulating into {@code sharedGrad}. Reads but does not
     * change what {@link #lowerForward} and {@link #upperForwardBackward} left in {@code ws}, so a
     * retried engine task may call it again on the same workspace.
     */
    public void lowerBackward(Parameters shared, SequenceBatch batch, Workspace ws, Matrix moeInputGradient, Parameters sharedGrad) {
        Matrix dX1 = ws.dB;
        if (moeInputGradient == null) dX1.fill(0);
        else if (moeInputGradient != dX1) dX1.copyFrom(moeInputGradient);
        dX1.axpy(1, ws.dA);
        Dropout.backward(dX1, ws.mask1, ws.dTmp);
        // dL/dx0 goes to its own buffer: dA (written by upperForwardBackward) stays intact, so an
        // engine may run this stage again on the same workspace (a retried task) with the same result
        lower.backward(shared, ws.x0, ws.dTmp, ws.lowerWs, sharedGrad, ws.dC);
        ws.dC.axpy(1, dX1);                                 // dC = dL/dx0
        Dropout.backward(ws.dC, ws.mask0, ws.dTmp);
        sharedGrad.get(EMBEDDING).scatterAddRows(ws.dTmp, batch.inputs(), 0, batch.rows(), null);
    }

    /**
     * The rest of {@link #forwardBackwardPart} once {@link #lowerForward} and the gate
     * ({@code moe().gating().forward} into {@code ws.moe().gate()}) have run on {@code ws}: the MoE
     * on this part's rows, the upper stages forward and backward, the MoE and the lower stages
     * backward (an engine that gated before it knew the step's balance statistics does not gate
     * twice). Accumulates into {@code grad}, advances {@code state}, returns the unscaled loss sum.
     */
    public double finishGated(ModelParameters params, SequenceBatch batch, RecurrentState state, Workspace ws, ModelParameters grad,
                              double lossScale, double[] statsGradient) {
        return finish(params, batch, state, ws, grad, lossScale, statsGradient);
    }

    /** The rest of the pass once {@link #gateStatistics} has filled the workspace; {@code grad == null}: loss only. */
    private double finish(ModelParameters params, SequenceBatch batch, RecurrentState state, Workspace ws, ModelParameters grad,
                          double lossScale, double[] statsGradient) {
        Parameters p = params.shared();
        double loss = upperForwardBackward(p, batch, state, ws, moeOutput(params, ws), lossScale, grad == null ? null : grad.shared());
        if (grad == null) return loss;
        if (moe != null) {
            // the MoE layer itself is not residual: the model adds x1 after dropout
            moe.backward(p, params.experts(), ws.x1, ws.moe, ws.dY, statsGradient, grad.shared(), grad.experts(), ws.dB);
        }
        lowerBackward(p, batch, ws, moe == null ? null : ws.dB, grad.shared());
        return loss;
    }

    /** Rows each expert received in the last pass of {@code ws}. */
    public int[] expertBatchSizes(Workspace ws) {
        int[] sizes = new int[numExperts()];
        for (int e = 0; e < sizes.length; e++) sizes[e] = ws.moe.routing().count(e);
        return sizes;
    }

    /** Buffers of one window pass, reused across steps; one per thread. */
    public final class Workspace {
        private final Precision precision;
        private final LstmLayer.Workspace lowerWs;
        private final LstmLayer.Workspace upperWs;
        private final MoELayer.Workspace moe;
        private Dropout dropout = Dropout.none();
        private Matrix[] bufs = new Matrix[18];
        private Matrix emb, x0, mask0, x1, mask1, g, x2, mask2, x3, mask3, dX3, dTmp, dA, dB, dY, headIn, headGrad, dC;
        private int[] valid = new int[0], labels = new int[0];

        Workspace(Precision precision) {
            this.precision = precision;
            this.lowerWs = lower.newWorkspace(precision);
            this.upperWs = upper.newWorkspace(precision);
            this.moe = RecurrentLanguageModel.this.moe == null ? null : RecurrentLanguageModel.this.moe.newWorkspace(precision);
        }

        void prepare(int m) {
            Matrix[] v = new Matrix[bufs.length];
            for (int i = 0; i < bufs.length; i++) {
                bufs[i] = Buffers.ensureRows(bufs[i], precision, m, dim);
                v[i] = bufs[i].topRows(m);
            }
            emb = v[0]; x0 = v[1]; mask0 = v[2]; x1 = v[3]; mask1 = v[4]; g = v[5]; x2 = v[6]; mask2 = v[7];
            x3 = v[8]; mask3 = v[9]; dX3 = v[10]; dTmp = v[11]; dA = v[12]; dB = v[13]; dY = v[14];
            headIn = bufs[15];
            headGrad = bufs[16];
            dC = v[17];
            valid = Buffers.ensure(valid, m);
            labels = Buffers.ensure(labels, m);
        }

        /**
         * dL/d(MoE output) of the last {@link #upperForwardBackward}: what the combine stage turns
         * into gate gradients and gate-weighted expert output gradients.
         */
        public Matrix moeOutputGradient() {
            return dY;
        }

        /** The MoE layer's workspace (last gate and routing); null without an MoE. */
        public MoELayer.Workspace moe() {
            return moe;
        }

        /**
         * dL/dh entering the window of LSTM layer {@code layer} (0 = lower) in the last backward pass:
         * what truncated BPTT does not propagate into the previous window.
         */
        public Matrix initialHiddenGradient(int layer) {
            return (layer == 0 ? lowerWs : upperWs).initialHiddenGradient();
        }

        /** dL/dc entering the window of LSTM layer {@code layer}. */
        public Matrix initialCellGradient(int layer) {
            return (layer == 0 ? lowerWs : upperWs).initialCellGradient();
        }
    }
}
