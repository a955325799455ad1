package org.sparkmoe.bench;

import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.gating.BalanceWeights;
import org.sparkmoe.core.gating.GateNoise;
import org.sparkmoe.core.gating.NoisyTopKGating;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.GemmBackends;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * The MoE layer alone, one partition's share of a step, MoE against the dense baseline of the same
 * compute per row (issue 9's configuration 2 at its LM shape by default: d = 64, n = 32, k = 2,
 * h = 128 against one expert of h = k*h, 7,168 rows = a 14,336-token batch over 2 partitions; and
 * configuration 4's local stage with {@code experts=16 h=64 rows=8192}). One thread, float32, the
 * models alternating pass by pass so that both see the same load. Per phase it prints the median
 * thread CPU time per pass (unlike wall time it does not stretch while other processes hold the
 * core) and the bytes the pass allocated:
 * <ul>
 *   <li>gate: {@code gating.forward} (input to the routing; core.gating),</li>
 *   <li>experts forward: {@link MoELayer#forwardGated} (dispatch plan, gather, experts, combine),</li>
 *   <li>backward: {@link MoELayer#backward} (backward combine with dL/dG, experts backward,
 *   backward dispatch, and the gate's backward pass),</li>
 *   <li>gate backward: {@code gating.backward} alone on the same state, to be read as the part of
 *   "backward" that is the gate's.</li>
 * </ul>
 * Arguments (key=value): d=64 experts=32 k=2 h=128 rows=7168 reps=60 warmup=20 gemm=(the default back end),
 * gateOnly=false. {@code gateOnly=true} times the noisy top-k gate alone (no experts, so it fits the
 * paper's shape, e.g. {@code gateOnly=true d=512 experts=256 k=4 rows=4096}, configuration 1's
 * partition): its forward and backward pass, and beside them the same GEMMs alone (two d x n
 * forward, four backward), so that what the gate spends beyond its GEMMs reads directly, per pair and per
 * token, and the forward pass's noise ({@link GateNoise#fillRow}) timed alone.
 */
public final class MoELayerBenchmark {

    public static void main(String[] args) {
        BenchArgs a = new BenchArgs(args);
        int d = a.integer("d", 64);
        int n = a.integer("experts", 32);
        int k = a.integer("k", 2);
        int h = a.integer("h", 128);
        int rows = a.integer("rows", 7168);
        int reps = a.integer("reps", 60);
        int warmup = a.integer("warmup", 20);
        String gemm = a.string("gemm", "");
        if (!gemm.isEmpty()) GemmBackends.use(GemmBackends.byName(gemm));
        if (Boolean.parseBoolean(a.string("gateOnly", "false"))) {
            gateOnly(d, n, k, rows, reps, warmup);
            return;
        }
        Case moe = new Case("MoE n=" + n + " k=" + k + " h=" + h, NoisyTopKGating.noisyTopK(d, n, k), new Expert(d, h),
                new BalanceWeights(0.01, 0.01), rows, d);
        Case dense = new Case("dense h=" + (k * h), NoisyTopKGating.softmax(d, 1), new Expert(d, k * h), BalanceWeights.NONE, rows, d);
        System.out.printf(Locale.ROOT, "d=%d rows=%d, gemm %s, %d passes each after %d warm-up; load average %s%n", d, rows,
                GemmBackends.current().name(), reps, warmup, EngineBenchmark.loadAverage());
        for (int r = 0; r < warmup; r++) {
            moe.pass(-1);
            dense.pass(-1);
        }
        for (int r = 0; r < reps; r++) {
            moe.pass(r);
            dense.pass(r);
        }
        System.out.println("| model | gate ms | experts forward ms | backward ms | of which gate backward ms | layer ms (sum) | KB allocated/pass |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|");
        double[] m = moe.print(), dn = dense.print();
        System.out.printf(Locale.ROOT, "| MoE / dense | %.2fx | %.2fx | %.2fx | | %.2fx | |%n", m[0] / dn[0], m[1] / dn[1], m[2] / dn[2],
                m[4] / dn[4]);
        System.out.printf(Locale.ROOT, "| MoE - dense, ms | %.2f | %.2f | %.2f | %.2f | %.2f | |%n", m[0] - dn[0], m[1] - dn[1],
                m[2] - dn[2], m[3] - dn[3], m[4] - dn[4]);
        System.out.println("load average " + EngineBenchmark.loadAverage());
    }

    /** The gate alone: forward, backward, and the GEMMs among them timed alone on the same shapes. */
    private static void gateOnly(int d, int n, int k, int rows, int reps, int warmup) {
        NoisyTopKGating gating = NoisyTopKGating.noisyTopK(d, n, k);
        SplittableRandom rnd = new SplittableRandom(11);
        ParameterLayout.Builder b = ParameterLayout.builder();
        gating.declare(b);
        Parameters shared = b.build().allocate(Precision.F32);
        shared.fill(() -> (rnd.nextDouble() - 0.5) * 0.2);
        Parameters grad = shared.zerosLike();
        Matrix x = Case.random(rows, d, rnd);
        Matrix dx = Precision.F32.zeros(rows, d);
        Matrix logits = Precision.F32.zeros(rows, n);
        long[] ids = new long[rows];
        for (int i = 0; i < rows; i++) ids[i] = i;
        org.sparkmoe.core.gating.GatingState state = gating.newState(Precision.F32);
        double[] stats = new double[gating.statsSize()];
        // dL/dG as the combine leaves it, so that the backward pass does its full work
        BalanceWeights w = new BalanceWeights(0.01, 0.01);
        System.out.printf(Locale.ROOT, "gate alone: d=%d n=%d k=%d rows=%d, gemm %s, %d passes after %d warm-up; load average %s%n",
                d, n, k, rows, GemmBackends.current().name(), reps, warmup, EngineBenchmark.loadAverage());
        long[][] t = new long[5][reps];
        double[] eps = new double[n];
        long[] bytes = new long[reps];
        long tid = Thread.currentThread().getId();
        for (int r = -warmup; r < reps; r++) {
            long a0 = Case.MX.getThreadAllocatedBytes(tid);
            long t0 = Case.MX.getCurrentThreadCpuTime();
            Arrays.fill(stats, 0);
            gating.forward(shared, x, ids, GateNoise.training(7, r + warmup), state, stats);
            long t1 = Case.MX.getCurrentThreadCpuTime();
            double[] dGate = state.gateGradient();
            for (int i = 0; i < rows * k; i++) dGate[i] = ((i * 0x9E3779B9L) >>> 8 & 0xFF) / 255.0 - 0.5;
            double[] statsGradient = gating.balance(stats, w).statsGradient();
            long t2 = Case.MX.getCurrentThreadCpuTime();
            gating.backward(shared, x, state, statsGradient, grad, dx);
            long t3 = Case.MX.getCurrentThreadCpuTime();
            long a1 = Case.MX.getThreadAllocatedBytes(tid);
            // the same six GEMMs alone: x W_g, x W_noise; x^T dC, x^T dS into the gradients; dC W_g^T, dS W_noise^T into dx
            for (String name : new String[]{"gate.w_gate", "gate.w_noise"}) logits.gemm(1, x, false, shared.get(name), false, 0);
            long t4 = Case.MX.getCurrentThreadCpuTime();
            for (String name : new String[]{"gate.w_gate", "gate.w_noise"}) {
                grad.get(name).gemm(1, x, true, logits, false, 1);
                dx.gemm(1, logits, false, shared.get(name), true, 1);
            }
            long t5 = Case.MX.getCurrentThreadCpuTime();
            // the forward pass's noise alone (GateNoise.fillRow, row by row as the gate draws it)
            GateNoise noise = GateNoise.training(7, r + warmup);
            for (int i = 0; i < rows; i++) noise.fillRow(noise.rowKey(ids[i]), 0, n, eps, 0);
            long t6 = Case.MX.getCurrentThreadCpuTime();
            if (r < 0) continue;
            t[0][r] = t1 - t0;
            t[1][r] = t3 - t2;
            t[2][r] = t4 - t3;
            t[3][r] = t5 - t4;
            t[4][r] = t6 - t5;
            bytes[r] = a1 - a0;
        }
        double[] m = new double[5];
        for (int i = 0; i < 5; i++) m[i] = Case.median(t[i]) / 1e6;
        // every value the passes produced, as bits: a change meant to keep results must keep this number
        long sum = 0;
        for (double v : stats) sum = sum * 31 + Double.doubleToRawLongBits(v);
        for (double v : state.gate()) sum = sum * 31 + Double.doubleToRawLongBits(v);
        for (int v : state.expert()) sum = sum * 31 + v;
        for (int i = 0, size = grad.flat().size(); i < size; i++) sum = sum * 31 + Double.doubleToRawLongBits(grad.flat().getFlat(i));
        for (int i = 0, size = dx.size(); i < size; i++) sum = sum * 31 + Double.doubleToRawLongBits(dx.getFlat(i));
        System.out.println("| shape | forward ms | of which 2 GEMMs | rest | backward ms | of which 4 GEMMs | rest | ns per pair beyond GEMMs (fwd, bwd) "
                + "| KB allocated/pass | ns per token beyond GEMMs (fwd, bwd) | noise ms (in fwd rest) |");
        System.out.println("|---|---:|---:|---:|---:|---:|---:|---|---:|---|---:|");
        double pairs = (double) rows * n;
        System.out.printf(Locale.ROOT, "| %d x %d, d=%d, k=%d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f, %.1f | %.1f | %.0f, %.0f | %.2f |%n",
                rows, n, d, k, m[0], m[2], m[0] - m[2], m[1], m[3], m[1] - m[3], (m[0] - m[2]) * 1e6 / pairs, (m[1] - m[3]) * 1e6 / pairs,
                Case.median(bytes) / 1e3, (m[0] - m[2]) * 1e6 / rows, (m[1] - m[3]) * 1e6 / rows, m[4]);
        System.out.printf(Locale.ROOT, "results checksum %016x; load average %s%n", sum, EngineBenchmark.loadAverage());
    }

    private static final class Case {
        private static final com.sun.management.ThreadMXBean MX = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        final String name;
        final MoELayer layer;
        final Parameters shared, sharedGrad;
        final Parameters[] experts, expertGrads;
        final Matrix x, y, dY, dx;
        final long[] ids;
        final MoELayer.Workspace ws;
        final double[] stats;
        int step;

        Case(String name, NoisyTopKGating gating, Expert expert, BalanceWeights weights, int rows, int d) {
            this.name = name;
            this.layer = new MoELayer(gating, expert, true, weights);
            SplittableRandom rnd = new SplittableRandom(11);
            ParameterLayout.Builder b = ParameterLayout.builder();
            gating.declare(b);
            ParameterLayout sl = b.build();
            shared = sl.allocate(Precision.F32);
            // small random gate weights: with the zero initial ones only the noise would route
            shared.fill(() -> (rnd.nextDouble() - 0.5) * 0.2);
            sharedGrad = shared.zerosLike();
            experts = new Parameters[gating.numExperts()];
            expertGrads = new Parameters[experts.length];
            for (int e = 0; e < experts.length; e++) {
                experts[e] = expert.initialise(Precision.F32, rnd.split());
                expertGrads[e] = experts[e].zerosLike();
            }
            x = random(rows, d, rnd);
            dY = random(rows, d, rnd);
            y = Precision.F32.zeros(rows, d);
            dx = Precision.F32.zeros(rows, d);
            ids = new long[rows];
            for (int i = 0; i < rows; i++) ids[i] = i;
            ws = layer.newWorkspace(Precision.F32);
            stats = new double[gating.statsSize()];
        }

        private static Matrix random(int rows, int cols, SplittableRandom r) {
            Matrix m = Precision.F32.zeros(rows, cols);
            for (int i = 0, n = m.size(); i < n; i++) m.setFlat(i, r.nextDouble() * 2 - 1);
            return m;
        }

        private long[][] times = new long[4][];
        private long[] bytes;

        void pass(int rep) {
            if (rep == 0 || times[0] == null) {
                for (int i = 0; i < 4; i++) times[i] = new long[0];
                bytes = new long[0];
            }
            long tid = Thread.currentThread().getId();
            long a0 = MX.getThreadAllocatedBytes(tid);
            long t0 = MX.getCurrentThreadCpuTime();
            Arrays.fill(stats, 0);
            layer.gating().forward(shared, x, ids, GateNoise.training(7, step++), ws.gate(), stats);
            long t1 = MX.getCurrentThreadCpuTime();
            layer.forwardGated(experts, x, ws, y);
            long t2 = MX.getCurrentThreadCpuTime();
            double[] statsGradient = layer.balance(stats).statsGradient();
            layer.backward(shared, experts, x, ws, dY, statsGradient, sharedGrad, expertGrads, dx);
            long t3 = MX.getCurrentThreadCpuTime();
            long a1 = MX.getThreadAllocatedBytes(tid);
            layer.gating().backward(shared, x, ws.gate(), statsGradient, sharedGrad, dx);
            long t4 = MX.getCurrentThreadCpuTime();
            if (rep < 0) return;
            add(0, t1 - t0);
            add(1, t2 - t1);
            add(2, t3 - t2);
            add(3, t4 - t3);
            bytes = Arrays.copyOf(bytes, bytes.length + 1);
            bytes[bytes.length - 1] = a1 - a0;
        }

        private void add(int i, long v) {
            times[i] = Arrays.copyOf(times[i], times[i].length + 1);
            times[i][times[i].length - 1] = v;
        }

        /** Prints the row; returns the medians in ms (gate, forward, backward, gate backward, layer). */
        double[] print() {
            double[] m = new double[5];
            for (int i = 0; i < 4; i++) m[i] = median(times[i]) / 1e6;
            long[] sum = new long[times[0].length];
            for (int r = 0; r < sum.length; r++) sum[r] = times[0][r] + times[1][r] + times[2][r];
            m[4] = median(sum) / 1e6;
            System.out.printf(Locale.ROOT, "| %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.1f |%n", name, m[0], m[1], m[2], m[3], m[4],
                    median(bytes) / 1e3);
            return m;
        }

        private static double median(long[] v) {
            long[] s = v.clone();
            Arrays.sort(s);
            return s[s.length / 2];
        }
    }
}
