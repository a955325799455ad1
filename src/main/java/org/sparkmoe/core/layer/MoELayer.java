package org.sparkmoe.core.layer;

import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.expert.ExpertWorkspace;
import org.sparkmoe.core.gating.BalanceResult;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.Gating;
import org.sparkmoe.core.gating.GatingState;
import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.Parameters;

/**
 * The Sparsely-Gated Mixture-of-Experts layer (paper section 2, eq. 1):
 * {@code y = sum_i G(x)_i E_i(x)}, optionally residual {@code y = x + MoE(x)}. Experts with a zero
 * gate are never evaluated; each expert runs once on all the rows routed to it (one GEMM per layer
 * per expert batch).
 *
 * <p>The pass is split into the same stages as a distributed step: gate, dispatch (gather rows by
 * expert), experts, combine (scatter weighted outputs back), then backward combine, expert backward
 * and backward dispatch, and the gating backward pass with the batch-global balance gradient.
 */
public final class MoELayer implements java.io.Serializable {
    private static final long serialVersionUID = 1L;
    private final Gating gating;
    private final Expert expert;
    private final boolean residual;
    private final BalanceWeights weights;

    public MoELayer(Gating gating, Expert expert, boolean residual, BalanceWeights weights) {
        this.gating = gating;
        this.expert = expert;
        this.residual = residual;
        this.weights = weights;
    }

    public Gating gating() {
        return gating;
    }

    public Expert expert() {
        return expert;
    }

    public int numExperts() {
        return gating.numExperts();
    }

    public boolean residual() {
        return residual;
    }

    public BalanceWeights balanceWeights() {
        return weights;
    }

    public Workspace newWorkspace(Precision precision) {
        return new Workspace(precision);
    }

    /**
     * Forward pass over a whole batch: gates, runs the experts and writes y (m x d). Adds the
     * batch's balance statistics into {@code stats} (length {@code gating().statsSize()}).
     */
    public void forward(Parameters shared, Parameters[] experts, Matrix x, long[] exampleIds, GateNoise noise,
                        Workspace ws, Matrix y, double[] stats) {
        gating.forward(shared, x, exampleIds, noise, ws.gate, stats);
        forwardGated(experts, x, ws, y);
    }

    /**
     * The experts and the combine of {@link #forward} for gates already in {@code ws.gate()} (filled by
     * {@code gating().forward} on the same {@code x}), so a caller that gated first does not gate twice.
     */
    public void forwardGated(Parameters[] experts, Matrix x, Workspace ws, Matrix y) {
        Routing routing = ws.routing;
        routing.build(ws.gate);
        int d = x.cols();
        int total = routing.entries();
        ws.expertIn = Buffers.ensureRows(ws.expertIn, ws.precision, total, d);
        ws.expertOut = Buffers.ensureRows(ws.expertOut, ws.precision, total, d);
        // dispatch: every expert's rows in one block ordered by expert, gathered in one pass
        ws.expertIn.gatherRows(x, routing.rows(), 0, total);
        for (int e = 0; e < numExperts(); e++) {
            int c = routing.count(e);
            if (c == 0) continue;
            int s = routing.start(e);
            expert.forward(experts[e], ws.expertIn.slice(s * d, c, d), ws.expertWorkspace(e), ws.expertOut.slice(s * d, c, d));
        }
        // combine row by row (each row of y written once, residual included) rather than clearing y and
        // adding each expert's outputs into it: the same sums in the same order (experts ascending)
        y.sumRowsOf(ws.expertOut, routing.entryOf(), routing.slotsPerRow(), routing.gates(), residual ? x : null);
    }

    /** The balancing losses for summed statistics. */
    public BalanceResult balance(double[] stats) {
        return gating.balance(stats, weights);
    }

    /**
     * Backward pass for the last {@link #forward} with this workspace: accumulates shared (gating)
     * and expert parameter gradients and writes dL/dx into {@code dx} (overwritten).
     */
    public void backward(Parameters shared, Parameters[] experts, Matrix x, Workspace ws, Matrix dY,
                         double[] statsGradient, Parameters sharedGrad, Parameters[] expertGrads, Matrix dx) {
        Routing routing = ws.routing;
        int d = x.cols();
        int total = routing.entries();
        // dE(x) of one expert at a time in one buffer the size of the largest expert batch, reused by each
        // expert in turn (it stays in cache), where the experts' dE(x)s side by side would be all entries
        int largest = 0;
        for (int e = 0; e < numExperts(); e++) largest = Math.max(largest, routing.count(e));
        ws.expertGradOut = Buffers.ensureRows(ws.expertGradOut, ws.precision, largest, d);
        // dL/dx of one expert at a time too, added into dx row by row as each expert finishes: experts in
        // ascending order, so each row of dx is the same sum, in the same order, as a combine after the loop
        ws.expertGradIn = Buffers.ensureRows(ws.expertGradIn, ws.precision, largest, d);
        dx.fill(0);
        ws.gateDots = Buffers.ensure(ws.gateDots, total);
        double[] dGate = ws.gate.gateGradient();
        int slots = ws.gate.slots();
        for (int e = 0; e < numExperts(); e++) {
            int c = routing.count(e);
            if (c == 0) continue;
            int s = routing.start(e);
            Matrix dOut = ws.expertGradOut.topRows(c);
            Matrix dIn = ws.expertGradIn.topRows(c);
            // dL/dG of each entry (dY . E(x)) and dL/dE(x) = G dY, from one read of each dY row, with dE(x)'s
            // column sums (the expert's output bias gradient) added as the rows are written
            dOut.gatherScaledRowsDot(dY, routing.rows(), s, c, routing.gates(), ws.expertOut.slice(s * d, c, d), ws.gateDots,
                    expert.outputBiasGradient(expertGrads[e]));
            for (int q = 0; q < c; q++) {
                dGate[routing.rows()[s + q] * slots + routing.slots()[s + q]] = ws.gateDots[q];
            }
            expert.backwardOutputBiasAdded(experts[e], ws.expertIn.slice(s * d, c, d), ws.expertWorkspace(e), dOut, dIn,
                    expertGrads[e]);
            dx.scatterAddRows(dIn, routing.rows(), s, c, null);
        }
        gating.backward(shared, x, ws.gate, statsGradient, sharedGrad, dx);
        if (residual) {
            dx.axpy(1, dY);
        }
    }

    /** Buffers of one layer pass, reused across steps. */
    public final class Workspace {
        private final Precision precision;
        private final GatingState gate;
        private final Routing routing;
        private final ExpertWorkspace[] expertWorkspaces;
        private final ExpertWorkspace hiddenGradients;
        private Matrix expertIn, expertOut, expertGradOut, expertGradIn;
        private double[] gateDots;

        Workspace(Precision precision) {
            this.precision = precision;
            this.gate = gating.newState(precision);
            this.routing = new Routing(gating.numExperts());
            this.expertWorkspaces = new ExpertWorkspace[gating.numExperts()];
            this.hiddenGradients = new ExpertWorkspace(precision, expert.hidden());
        }

        ExpertWorkspace expertWorkspace(int e) {
            if (expertWorkspaces[e] == null) {
                // the experts' backward passes run one after another: one hidden gradient buffer for all
                expertWorkspaces[e] = ExpertWorkspace.sharingGradientOf(hiddenGradients);
            }
            return expertWorkspaces[e];
        }

        /** The gate of the last forward pass. */
        public GatingState gate() {
            return gate;
        }

        /** The dispatch plan of the last forward pass: expert batch sizes live here. */
        public Routing routing() {
            return routing;
        }
    }
}
