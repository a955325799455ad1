package org.sparkmoe.core.gating;

import java.util.Arrays;
import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * Hierarchical MoE gating (paper appendix B): a primary noisy top-k gate picks among {@code a}
 * groups, and group i's own noisy top-k gate picks among its {@code b} experts, so that
 * {@code y_H = sum_i sum_j G_primary(x)_i G_i(x)_j E_ij(x)}. Leaf expert (i, j) has id
 * {@code i * b + j}. Secondary gates run only on the rows their group received, X^(i).
 *
 * <p>Statistics layout (all additive across blocks of rows):
 * {@code [Importance_H (a*b), Load_primary (a), sum_{x in X^(i)} P_i(x, j) (a*b), |X^(i)| (a)]}, from
 * which {@link #balance} forms Importance_H and
 * {@code Load_H(X)_ij = Load_primary(X)_i * Load_i(X^(i))_j / |X^(i)|}.
 */
public final class HierarchicalGating implements Gating {
    private final int groups;
    private final int perGroup;
    private final NoisyTopKGating primary;
    private final NoisyTopKGating[] secondary;
    private final int slots;

    public HierarchicalGating(int inputDim, int groups, int expertsPerGroup, int kPrimary, int kSecondary, boolean noisy) {
        if (groups <= 0 || expertsPerGroup <= 0) {
            throw new IllegalArgumentException("hierarchical MoE needs positive group count and experts per group, got "
                    + groups + " x " + expertsPerGroup);
        }
        this.groups = groups;
        this.perGroup = expertsPerGroup;
        this.primary = new NoisyTopKGating(inputDim, groups, kPrimary, noisy, "gate.primary.", 0);
        this.secondary = new NoisyTopKGating[groups];
        for (int i = 0; i < groups; i++) {
            secondary[i] = new NoisyTopKGating(inputDim, expertsPerGroup, kSecondary, noisy,
                    "gate.group" + i + ".", groups + i * expertsPerGroup);
        }
        this.slots = kPrimary * kSecondary;
    }

    public int groups() {
        return groups;
    }

    public int expertsPerGroup() {
        return perGroup;
    }

    @Override
    public int numExperts() {
        return groups * perGroup;
    }

    @Override
    public int slotsPerRow() {
        return slots;
    }

    @Override
    public int statsSize() {
        return 2 * groups * perGroup + 2 * groups;
    }

    private int loadPrimaryOffset() {
        return groups * perGroup;
    }

    private int loadSecondaryOffset() {
        return groups * perGroup + groups;
    }

    private int countOffset() {
        return 2 * groups * perGroup + groups;
    }

    @Override
    public void declare(ParameterLayout.Builder layout) {
        primary.declare(layout);
        for (NoisyTopKGating g : secondary) g.declare(layout);
    }

    @Override
    public void initialise(Parameters p, SplittableRandom random) {
        primary.initialise(p, random);
        for (NoisyTopKGating g : secondary) g.initialise(p, random);
    }

    @Override
    public State newState(Precision precision) {
        return new State(precision, this);
    }

    @Override
    public void forward(Parameters p, Matrix x, long[] exampleIds, GateNoise noise, GatingState gs, double[] stats) {
        State s = (State) gs;
        int m = x.rows();
        int kP = primary.k();
        int kS = slots / kP;
        s.reset(m);
        Arrays.fill(s.primaryStats, 0);
        primary.forward(p, x, exampleIds, noise, s.primaryState, s.primaryStats);
        for (int i = 0; i < groups; i++) stats[loadPrimaryOffset() + i] += s.primaryStats[groups + i];
        s.groupRows(s.primaryState.expert(), m, kP);
        int[] expert = s.expert();
        double[] gate = s.gate();
        for (int i = 0; i < groups; i++) {
            int mi = s.groupSize[i];
            if (mi == 0) continue;
            int from = s.groupStart[i];
            Matrix xi = s.groupInput(i, mi, x.cols());
            xi.gatherRows(x, s.groupRow, from, mi);
            long[] ids = s.groupIds(i, mi);
            for (int q = 0; q < mi; q++) ids[q] = exampleIds[s.groupRow[from + q]];
            Arrays.fill(s.secondaryStats, 0);
            GatingState ss = s.secondaryStates[i];
            secondary[i].forward(p, xi, ids, noise, ss, s.secondaryStats);
            for (int j = 0; j < perGroup; j++) {
                stats[loadSecondaryOffset() + i * perGroup + j] += s.secondaryStats[perGroup + j];
            }
            stats[countOffset() + i] += mi;
            for (int q = 0; q < mi; q++) {
                int r = s.groupRow[from + q];
                int sp = s.groupSlot[from + q];
                double gp = s.primaryState.gate()[r * kP + sp];
                for (int t = 0; t < kS; t++) {
                    int e = i * perGroup + ss.expert()[q * kS + t];
                    double g = gp * ss.gate()[q * kS + t];
                    expert[r * slots + sp * kS + t] = e;
                    gate[r * slots + sp * kS + t] = g;
                    stats[e] += g;
                }
            }
        }
    }

    @Override
    public BalanceResult balance(double[] stats, BalanceWeights w) {
        int n = groups * perGroup;
        double[] importance = Arrays.copyOfRange(stats, 0, n);
        double[] load = new double[n];
        for (int i = 0; i < groups; i++) {
            double count = stats[countOffset() + i];
            if (count == 0) continue;
            double lp = stats[loadPrimaryOffset() + i];
            for (int j = 0; j < perGroup; j++) {
                load[i * perGroup + j] = lp * stats[loadSecondaryOffset() + i * perGroup + j] / count;
            }
        }
        double[] grad = new double[statsSize()];
        CoefficientOfVariation.addGradient(importance, 0, n, w.importance(), grad, 0);
        double[] dLoad = new double[n];
        CoefficientOfVariation.addGradient(load, 0, n, w.load(), dLoad, 0);
        for (int i = 0; i < groups; i++) {
            double count = stats[countOffset() + i];
            if (count == 0) continue;
            double lp = stats[loadPrimaryOffset() + i];
            for (int j = 0; j < perGroup; j++) {
                int e = i * perGroup + j;
                grad[loadPrimaryOffset() + i] += dLoad[e] * stats[loadSecondaryOffset() + e] / count;
                grad[loadSecondaryOffset() + e] += dLoad[e] * lp / count;
            }
        }
        return new BalanceResult(w.importance() * CoefficientOfVariation.squared(importance, 0, n),
                w.load() * CoefficientOfVariation.squared(load, 0, n), importance, load, grad);
    }

    @Override
    public void backward(Parameters p, Matrix x, GatingState gs, double[] statsGradient, Parameters grad, Matrix dx) {
        State s = (State) gs;
        int m = s.rows();
        int kP = primary.k();
        int kS = slots / kP;
        double[] dComposite = s.gateGradient();
        double[] dPrimary = s.primaryState.gateGradient();
        Arrays.fill(dPrimary, 0, m * kP, 0.0);
        for (int i = 0; i < groups; i++) {
            int mi = s.groupSize[i];
            if (mi == 0) continue;
            int from = s.groupStart[i];
            GatingState ss = s.secondaryStates[i];
            double[] dSecondary = ss.gateGradient();
            for (int q = 0; q < mi; q++) {
                int r = s.groupRow[from + q];
                int sp = s.groupSlot[from + q];
                double gp = s.primaryState.gate()[r * kP + sp];
                for (int t = 0; t < kS; t++) {
                    int c = r * slots + sp * kS + t;
                    double d = dComposite[c] + statsGradient[s.expert()[c]];  // + dL/dImportance_H
                    dPrimary[r * kP + sp] += d * ss.gate()[q * kS + t];
                    dSecondary[q * kS + t] = d * gp;
                }
            }
            Arrays.fill(s.secondaryStats, 0);
            for (int j = 0; j < perGroup; j++) {
                s.secondaryStats[perGroup + j] = statsGradient[loadSecondaryOffset() + i * perGroup + j];
            }
            Matrix xi = s.groupInputs[i].topRows(mi);
            Matrix dxi = null;
            if (dx != null) {
                s.groupGrads[i] = Buffers.ensureRows(s.groupGrads[i], x.precision(), mi, x.cols());
                dxi = s.groupGrads[i].topRows(mi);
                dxi.fill(0);
            }
            secondary[i].backward(p, xi, ss, s.secondaryStats, grad, dxi);
            if (dx != null) dx.scatterAddRows(dxi, s.groupRow, from, mi, null);
        }
        Arrays.fill(s.primaryStats, 0);
        for (int i = 0; i < groups; i++) s.primaryStats[groups + i] = statsGradient[loadPrimaryOffset() + i];
        primary.backward(p, x, s.primaryState, s.primaryStats, grad, dx);
    }

    /**
     * Primary and per-group secondary states and the rows each group received. Static with plain
     * fields so that a cached step state can be serialised (Kryo).
     */
    public static final class State extends GatingState {
        private final Precision precision;
        private final int groups;
        private final GatingState primaryState;
        private final GatingState[] secondaryStates;
        private final Matrix[] groupInputs;
        private final Matrix[] groupGrads;
        private final long[][] groupIdBuffers;
        private final double[] primaryStats;
        private final double[] secondaryStats;
        private final int[] groupSize;
        private final int[] groupStart;
        private int[] groupRow = new int[0];
        private int[] groupSlot = new int[0];

        State(Precision precision, HierarchicalGating owner) {
            super(owner.slots);
            this.precision = precision;
            this.groups = owner.groups;
            this.primaryState = owner.primary.newState(precision);
            this.secondaryStates = new GatingState[groups];
            for (int i = 0; i < groups; i++) secondaryStates[i] = owner.secondary[i].newState(precision);
            this.groupInputs = new Matrix[groups];
            this.groupGrads = new Matrix[groups];
            this.groupIdBuffers = new long[groups][];
            this.primaryStats = new double[2 * groups];
            this.secondaryStats = new double[2 * owner.perGroup];
            this.groupSize = new int[groups];
            this.groupStart = new int[groups];
        }

        /** Counting sort of (row, primary slot) pairs by group: X^(i) in row order. */
        void groupRows(int[] primaryExpert, int m, int kP) {
            Arrays.fill(groupSize, 0);
            for (int q = 0; q < m * kP; q++) groupSize[primaryExpert[q]]++;
            int acc = 0;
            for (int i = 0; i < groups; i++) {
                groupStart[i] = acc;
                acc += groupSize[i];
            }
            groupRow = Buffers.ensure(groupRow, acc);
            groupSlot = Buffers.ensure(groupSlot, acc);
            int[] fill = new int[groups];
            for (int r = 0; r < m; r++) {
                for (int sp = 0; sp < kP; sp++) {
                    int i = primaryExpert[r * kP + sp];
                    int at = groupStart[i] + fill[i]++;
                    groupRow[at] = r;
                    groupSlot[at] = sp;
                }
            }
        }

        Matrix groupInput(int i, int rows, int cols) {
            groupInputs[i] = Buffers.ensureRows(groupInputs[i], precision, rows, cols);
            return groupInputs[i].topRows(rows);
        }

        long[] groupIds(int i, int rows) {
            if (groupIdBuffers[i] == null || groupIdBuffers[i].length < rows) {
                groupIdBuffers[i] = new long[Math.max(16, rows + (rows >> 1))];
            }
            return groupIdBuffers[i];
        }

        /** Rows of the block that group i received in the last forward pass. */
        public int groupSize(int i) {
            return groupSize[i];
        }
    }
}
