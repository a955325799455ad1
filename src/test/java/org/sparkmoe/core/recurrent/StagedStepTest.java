package org.sparkmoe.core.recurrent;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.expert.ExpertWorkspace;
import org.sparkmoe.core.gating.BalanceResult;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.gating.HierarchicalGating;
import org.sparkmoe.core.layer.Routing;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.param.Parameters;

/**
 * The stages a shuffle-routing engine runs, driven by hand as a data partition and the expert
 * shards would (lower forward and gate; experts on dispatched rows; combine, upper forward and
 * backward; expert backward; gating backward and lower backward), give exactly the gradient, loss
 * and carried state of the one-call {@link RecurrentLanguageModel#forwardBackward}.
 */
class StagedStepTest {
    private static final Precision F64 = Precision.F64;

    @Test
    void stagesAsTheEngineRunsThemEqualTheOneCallStep() {
        RecurrentLanguageModel model = RecurrentLanguageModel.withMoE(13, 6, new HierarchicalGating(6, 2, 3, 2, 2, true), 5,
                new BalanceWeights(0.3, 0.2), 0.2);
        ModelParameters params = RecurrentLanguageModelGradientTest.params(model, 21);
        RecurrentState carried = RecurrentLanguageModelGradientTest.carriedState(model, params, 21);
        SequenceBatch batch = RecurrentLanguageModelGradientTest.window(21, 1);
        GateNoise noise = GateNoise.training(21, 2);
        ModelParameters expected = params.zerosLike();
        RecurrentState expectedState = carried.copy();
        SequenceStepResult r = model.forwardBackward(params, batch, expectedState, noise, model.newWorkspace(F64), expected);

        Parameters shared = params.shared();
        ModelParameters grad = params.zerosLike();
        RecurrentState state = carried.copy();
        RecurrentLanguageModel.Workspace ws = model.newWorkspace(F64);
        // partition: lower forward and gate; statistics to the driver
        Matrix x1 = model.lowerForward(shared, batch, state, noise, ws);
        int m = x1.rows(), d = x1.cols(), n = model.numExperts();
        GatingState gate = model.moe().gating().newState(F64);
        double[] stats = new double[model.moe().gating().statsSize()];
        model.moe().gating().forward(shared, x1, batch.tokenIds(), noise, gate, stats);
        BalanceResult balance = model.moe().balance(stats);
        Routing routing = new Routing(n);
        routing.build(gate);
        // expert shards: forward on the dispatched rows
        Expert expert = model.moe().expert();
        Matrix[] in = new Matrix[n], out = new Matrix[n];
        ExpertWorkspace[] ews = new ExpertWorkspace[n];
        Matrix y = F64.zeros(m, d);
        for (int e = 0; e < n; e++) {
            int c = routing.count(e), s = routing.start(e);
            if (c == 0) continue;
            in[e] = F64.zeros(c, d);
            out[e] = F64.zeros(c, d);
            ews[e] = new ExpertWorkspace(F64, expert.hidden());
            in[e].gatherRows(x1, routing.rows(), s, c);
            expert.forward(params.experts()[e], in[e], ews[e], out[e]);
            // partition: combine
            y.scatterAddRows(out[e], routing.rows(), s, c, routing.gates());
        }
        int tokens = batch.targetCount();
        double loss = model.upperForwardBackward(shared, batch, state, ws, y, 1.0 / tokens, grad.shared());
        Matrix dY = ws.moeOutputGradient();
        Matrix dx = F64.zeros(m, d);
        for (int e = 0; e < n; e++) {
            int c = routing.count(e), s = routing.start(e);
            if (c == 0) continue;
            for (int q = 0; q < c; q++) {
                int row = routing.rows()[s + q];
                gate.gateGradient()[row * gate.slots() + routing.slots()[s + q]] = dY.dotRows(row, out[e], q);
            }
            Matrix dOut = F64.zeros(c, d), dIn = F64.zeros(c, d);
            dOut.gatherRows(dY, routing.rows(), s, c);
            dOut.scaleRows(routing.gates(), s);
            // expert shards: backward; partition: backward combine
            expert.backward(params.experts()[e], in[e], ews[e], dOut, dIn, grad.experts()[e]);
            dx.scatterAddRows(dIn, routing.rows(), s, c, null);
        }
        model.moe().gating().backward(shared, x1, gate, balance.statsGradient(), grad.shared(), dx);
        model.lowerBackward(shared, batch, ws, dx, grad.shared());

        assertEquals(r.taskLossSum(), loss, 1e-12);
        assertSame(expected.shared().flat(), grad.shared().flat());
        for (int e = 0; e < n; e++) assertSame(expected.experts()[e].flat(), grad.experts()[e].flat());
        for (int l = 0; l < 2; l++) {
            assertSame(expectedState.hidden(l), state.hidden(l));
            assertSame(expectedState.cell(l), state.cell(l));
        }
    }

    private static void assertSame(Matrix expected, Matrix actual) {
        for (int i = 0; i < expected.size(); i++) {
            double e = expected.getFlat(i), a = actual.getFlat(i);
            assertTrue(Math.abs(e - a) <= 1e-12 * Math.max(1, Math.abs(e)), "element " + i + ": " + e + " vs " + a);
        }
    }
}
