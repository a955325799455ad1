package org.sparkmoe.core.recurrent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.gating.BalanceResult;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.HierarchicalGating;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.testing.GradientCheck;

/**
 * Central differences (F64) of the window objective (mean next-token cross-entropy + L_importance
 * + L_load) for every tensor of the recurrent language model: embedding, both LSTMs, gate, experts,
 * softmax; with dropout on, padding rows, one sequence starting a document and the others entering
 * the window with the state carried from a previous window. Plus the gradient with respect to the
 * carried state, the split of a step across partitions, and exact state carrying.
 */
class RecurrentLanguageModelGradientTest {
    private static final Precision F64 = Precision.F64;
    private static final int V = 13, D = 6, S = 3, T = 4;

    @Test
    void lstmLstmBaseline() {
        check("lstm-lstm", RecurrentLanguageModel.lstmOnly(V, D, 0.3), 6);
    }

    @Test
    void lstmMoELstmWithNoisyTopK() {
        check("flat", RecurrentLanguageModel.withMoE(V, D, NoisyTopKGating.noisyTopK(D, 5, 2), 5, new BalanceWeights(0.3, 0.4), 0.2), 2);
    }

    @Test
    void lstmMoELstmWithHierarchicalGating() {
        check("hierarchical", RecurrentLanguageModel.withMoE(V, D, new HierarchicalGating(D, 2, 3, 2, 2, true), 4,
                new BalanceWeights(0.5, 0.5), 0.2), 3);
    }

    @Test
    void moeOneWide() {
        check("moe-1-wide", RecurrentLanguageModel.moeOneWide(V, D, 8, 0.25), 4);
    }

    @Test
    void gradientWithRespectToTheCarriedState() {
        RecurrentLanguageModel model = RecurrentLanguageModel.withMoE(V, D, NoisyTopKGating.noisyTopK(D, 4, 2), 5,
                new BalanceWeights(0.2, 0.2), 0.2);
        Fixture f = new Fixture(model, 7);
        RecurrentLanguageModel.Workspace ws = model.newWorkspace(F64);
        DoubleSupplier objective = () -> model.forwardBackward(f.params, f.batch, f.carried.copy(), f.noise, ws,
                f.params.zerosLike()).objective();
        for (int l = 0; l < 2; l++) {
            // the analytic gradient at the unperturbed point: the previous layer's checks left ws at a perturbed one
            model.forwardBackward(f.params, f.batch, f.carried.copy(), f.noise, ws, f.params.zerosLike());
            Matrix dh = ws.initialHiddenGradient(l).copy();
            Matrix dc = ws.initialCellGradient(l).copy();
            // a sequence that starts a document ignores what it carried in: its numeric gradient is 0
            for (int q = 0; q < S; q++) {
                if (f.batch.startsDocument()[q]) {
                    for (int j = 0; j < D; j++) {
                        dh.set(q, j, 0);
                        dc.set(q, j, 0);
                    }
                }
            }
            assertTrue(GradientCheck.hasSignal(dh) && GradientCheck.hasSignal(dc), "no gradient into the state of layer " + l);
            GradientCheck.check("state.h" + l, f.carried.hidden(l), dh, objective, 100);
            GradientCheck.check("state.c" + l, f.carried.cell(l), dc, objective, 100);
        }
    }

    /** Sequences split over two partitions, balance statistics summed before the backward pass, give the whole step's gradient. */
    @Test
    void partsOfAStepAddUpToTheWholeStep() {
        RecurrentLanguageModel model = RecurrentLanguageModel.withMoE(V, D, NoisyTopKGating.noisyTopK(D, 5, 2), 5,
                new BalanceWeights(0.3, 0.3), 0.2);
        Fixture f = new Fixture(model, 9);
        ModelParameters whole = f.params.zerosLike();
        RecurrentState wholeState = f.carried.copy();
        SequenceStepResult r = model.forwardBackward(f.params, f.batch, wholeState, f.noise, model.newWorkspace(F64), whole);

        SequenceBatch a = f.batch.selectSequences(0, 1), b = f.batch.selectSequences(1, S - 1);
        RecurrentState sa = f.carried.selectSequences(0, 1), sb = f.carried.selectSequences(1, S - 1);
        RecurrentLanguageModel.Workspace wa = model.newWorkspace(F64), wb = model.newWorkspace(F64);
        double[] stats = model.gateStatistics(f.params, a, sa.copy(), f.noise, wa);
        double[] statsB = model.gateStatistics(f.params, b, sb.copy(), f.noise, wb);
        for (int i = 0; i < stats.length; i++) stats[i] += statsB[i];
        BalanceResult balance = model.moe().balance(stats);
        int n = a.targetCount() + b.targetCount();
        ModelParameters parts = f.params.zerosLike();
        double loss = model.forwardBackwardPart(f.params, a, sa, f.noise, wa, parts, 1.0 / n, balance.statsGradient())
                + model.forwardBackwardPart(f.params, b, sb, f.noise, wb, parts, 1.0 / n, balance.statsGradient());
        assertEquals(r.taskLossSum(), loss, 1e-10);
        assertClose(whole.shared().flat(), parts.shared().flat());
        for (int e = 0; e < whole.experts().length; e++) assertClose(whole.experts()[e].flat(), parts.experts()[e].flat());
        for (int l = 0; l < 2; l++) {
            assertClose(wholeState.selectSequences(0, 1).hidden(l), sa.hidden(l));
            assertClose(wholeState.selectSequences(1, S - 1).cell(l), sb.cell(l));
        }
    }

    /** Two windows with the state carried between them score exactly like one window twice as long. */
    @Test
    void carriedStateContinuesTheSequenceExactly() {
        RecurrentLanguageModel model = RecurrentLanguageModel.withMoE(V, D, NoisyTopKGating.noisyTopK(D, 4, 2), 5,
                BalanceWeights.PAPER, 0.2);
        ModelParameters params = params(model, 5);
        SequenceBatch first = window(5, 0), second = window(55, 1);
        for (int q = 0; q < S; q++) second.startsDocument()[q] = false;
        int m = S * T;
        int[] in = new int[2 * m], tg = new int[2 * m];
        long[] ids = new long[2 * m];
        for (int i = 0; i < m; i++) {
            in[i] = first.inputs()[i];
            in[m + i] = second.inputs()[i];
            tg[i] = first.targets()[i];
            tg[m + i] = second.targets()[i];
            ids[i] = first.tokenIds()[i];
            ids[m + i] = second.tokenIds()[i];
        }
        SequenceBatch both = new SequenceBatch(S, 2 * T, in, tg, ids, first.startsDocument().clone());
        RecurrentLanguageModel.Workspace ws = model.newWorkspace(F64);
        RecurrentState state = model.newState(F64, S);
        double split = model.evaluate(params, first, state, ws).taskLossSum() + model.evaluate(params, second, state, ws).taskLossSum();
        RecurrentState state2 = model.newState(F64, S);
        double joined = model.evaluate(params, both, state2, ws).taskLossSum();
        assertEquals(joined, split, 1e-10);
        double reset = model.evaluate(params, second, model.newState(F64, S), ws).taskLossSum();
        assertTrue(Math.abs(reset - model.evaluate(params, second, carriedState(model, params, 5), ws).taskLossSum()) > 1e-6,
                "the carried state should change the second window's loss");
    }

    /** The loss-only evaluation (no gradient GEMMs in the softmax) scores exactly what a training pass without noise does. */
    @Test
    void evaluationScoresLikeTheTrainingPassWithoutNoise() {
        RecurrentLanguageModel model = RecurrentLanguageModel.withMoE(V, D, NoisyTopKGating.noisyTopK(D, 5, 2), 5,
                BalanceWeights.PAPER, 0.2);
        Fixture f = new Fixture(model, 13);
        RecurrentLanguageModel.Workspace ws = model.newWorkspace(F64);
        RecurrentState a = f.carried.copy(), b = f.carried.copy();
        SequenceStepResult trained = model.forwardBackward(f.params, f.batch, a, GateNoise.none(), ws, f.params.zerosLike());
        SequenceStepResult evaluated = model.evaluate(f.params, f.batch, b, ws);
        assertEquals(trained.taskLossSum(), evaluated.taskLossSum(), 1e-12);
        assertEquals(trained.tokens(), evaluated.tokens());
        assertClose(a.hidden(1), b.hidden(1));
    }

    @Test
    void float32AgreesWithFloat64() {
        RecurrentLanguageModel model = RecurrentLanguageModel.withMoE(V, D, NoisyTopKGating.noisyTopK(D, 5, 2), 5,
                BalanceWeights.PAPER, 0.2);
        ModelParameters p64 = params(model, 12);
        ModelParameters p32 = p64.to(Precision.F32);
        SequenceBatch batch = window(12, 1);
        GateNoise noise = GateNoise.training(12, 3);
        ModelParameters g64 = p64.zerosLike(), g32 = p32.zerosLike();
        double l64 = model.forwardBackward(p64, batch, model.newState(F64, S), noise, model.newWorkspace(F64), g64).objective();
        double l32 = model.forwardBackward(p32, batch, model.newState(Precision.F32, S), noise, model.newWorkspace(Precision.F32), g32)
                .objective();
        assertEquals(l64, l32, 1e-4 * Math.abs(l64));
        double diff = 0, norm = 0;
        for (int i = 0; i < g64.shared().flat().size(); i++) {
            double x = g64.shared().flat().getFlat(i);
            diff += Math.pow(x - g32.shared().flat().getFlat(i), 2);
            norm += x * x;
        }
        assertTrue(Math.sqrt(diff / norm) < 1e-4, "F32 gradient differs from F64 by " + Math.sqrt(diff / norm));
    }

    private static void check(String name, RecurrentLanguageModel model, long seed) {
        Fixture f = new Fixture(model, seed);
        ModelParameters params = f.params;
        RecurrentState carried = f.carried;
        SequenceBatch batch = f.batch;
        GateNoise noise = f.noise;
        RecurrentLanguageModel.Workspace ws = model.newWorkspace(F64);
        ModelParameters grad = params.zerosLike();
        model.forwardBackward(params, batch, carried.copy(), noise, ws, grad);
        ModelParameters scratch = params.zerosLike();
        DoubleSupplier objective = () -> model.forwardBackward(params, batch, carried.copy(), noise, ws, scratch).objective();
        GradientCheck.check(name + ".shared", params.shared(), grad.shared(), objective, 120);
        for (int t = 0; t < grad.shared().layout().entries().size(); t++) {
            String tensor = grad.shared().layout().entries().get(t).name();
            boolean mayBeZero = (tensor.contains("group") && !tensor.contains("group0")) || (name.equals("moe-1-wide") && tensor.startsWith("gate."));
            if (!mayBeZero) {
                assertTrue(GradientCheck.hasSignal(grad.shared().get(t)), name + ": no gradient for " + tensor);
            }
        }
        for (int e = 0; e < params.experts().length; e++) {
            GradientCheck.check(name + ".expert" + e, params.experts()[e], grad.experts()[e], objective, 60);
        }
    }

    /** Parameters with informative gates, the state carried from a first window, the second window and its noise. */
    private static final class Fixture {
        final ModelParameters params;
        final RecurrentState carried;
        final SequenceBatch batch;
        final GateNoise noise;

        Fixture(RecurrentLanguageModel model, long seed) {
            params = params(model, seed);
            carried = carriedState(model, params, seed);
            batch = window(seed, 1);
            noise = GateNoise.training(seed, 2);
        }
    }

    static ModelParameters params(RecurrentLanguageModel model, long seed) {
        ModelParameters params = model.initialise(F64, seed);
        // move the gates off their zero initialisation so that gating gradients are informative
        SplittableRandom r = new SplittableRandom(seed + 100);
        for (int t = 0; t < params.shared().layout().entries().size(); t++) {
            if (params.shared().layout().entries().get(t).name().startsWith("gate.")) {
                Matrix g = params.shared().get(t);
                for (int i = 0; i < g.size(); i++) g.setFlat(i, r.nextGaussian() * 0.7);
            }
        }
        return params;
    }

    /** The state after a first window (with noise and dropout of step 1). */
    static RecurrentState carriedState(RecurrentLanguageModel model, ModelParameters params, long seed) {
        RecurrentState state = model.newState(F64, S);
        model.forwardBackward(params, window(seed + 1000, 0), state, GateNoise.training(seed, 1), model.newWorkspace(F64),
                params.zerosLike());
        return state;
    }

    /** A random window; in window 1 sequence 1 starts a new document and sequence 2 ends its document after 2 steps (padding). */
    static SequenceBatch window(long seed, int index) {
        SplittableRandom r = new SplittableRandom(seed * 31 + index);
        int m = S * T;
        int[] in = new int[m], tg = new int[m];
        long[] ids = new long[m];
        boolean[] starts = new boolean[S];
        for (int t = 0; t < T; t++) {
            for (int q = 0; q < S; q++) {
                int row = t * S + q;
                in[row] = r.nextInt(V);
                tg[row] = index == 1 && q == 2 && t >= 2 ? -1 : r.nextInt(V);
                ids[row] = (q + 1L) * 1000 + index * T + t;
            }
        }
        starts[1] = index == 1;
        if (index == 0) java.util.Arrays.fill(starts, true);
        return new SequenceBatch(S, T, in, tg, ids, starts);
    }

    private static void assertClose(Matrix expected, Matrix actual) {
        for (int i = 0; i < expected.size(); i++) {
            double e = expected.getFlat(i), a = actual.getFlat(i);
            assertTrue(Math.abs(e - a) <= 1e-10 * Math.max(1, Math.abs(e)), "element " + i + ": " + e + " vs " + a);
        }
    }
}
