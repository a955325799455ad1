package org.sparkmoe.core.gating;

import java.util.Arrays;
import java.util.SplittableRandom;

import org.sparkmoe.core.linalg.Buffers;
import org.sparkmoe.core.linalg.DoubleMatrix;
import org.sparkmoe.core.linalg.FloatMatrix;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * Noisy top-k gating (paper section 2.1, eq. 3-5) and, as its special cases, plain top-k gating
 * (no noise network) and softmax gating (eq. 2: k = n, no noise).
 *
 * <pre>
 *   H(x)_i     = (x W_g)_i + eps_i * sigma_i(x),    sigma_i(x) = softplus((x W_noise)_i) + 0.01
 *   G(x)       = softmax(KeepTopK(H(x), k))
 * </pre>
 * eps ~ N(0,1) from {@link GateNoise} in training only. Statistics layout: {@code [Importance (n),
 * Load (n)]}. Load is the smooth estimator of eq. 8-10 when training with noise and k &lt; n:
 * {@code P(x,i) = Phi(((x W_g)_i - kth_excluding(H(x), k, i)) / sigma_i(x))}, differentiable in
 * W_g, W_noise and x (including through the threshold, which is another expert's noisy logit, as in
 * tensor2tensor's {@code _prob_in_top_k}); otherwise it is the number of rows routed to each expert.
 */
public final class NoisyTopKGating implements Gating {
    /** Minimum noise standard deviation (tensor2tensor's noise_epsilon). */
    public static final double NOISE_EPSILON = 0.01;

    private final int inputDim;
    private final int numExperts;
    private final int k;
    private final boolean noisy;
    private final String gateName;
    private final String noiseName;
    private final int streamBase;

    /**
     * @param prefix     parameter name prefix, e.g. "gate." or "gate.group3."
     * @param streamBase first noise stream of this gate (experts use streamBase .. streamBase+n-1)
     */
    public NoisyTopKGating(int inputDim, int numExperts, int k, boolean noisy, String prefix, int streamBase) {
        if (inputDim <= 0) throw new IllegalArgumentException("gating input size must be positive, got " + inputDim);
        if (numExperts <= 0) throw new IllegalArgumentException("number of experts must be positive, got " + numExperts);
        if (k < 1 || k > numExperts) {
            throw new IllegalArgumentException("k must be in [1, number of experts = " + numExperts + "], got " + k);
        }
        this.inputDim = inputDim;
        this.numExperts = numExperts;
        this.k = k;
        this.noisy = noisy;
        this.gateName = prefix + "w_gate";
        this.noiseName = prefix + "w_noise";
        this.streamBase = streamBase;
    }

    /** Softmax gating (eq. 2): every expert gets every row. */
    public static NoisyTopKGating softmax(int inputDim, int numExperts) {
        return new NoisyTopKGating(inputDim, numExperts, numExperts, false, "gate.", 0);
    }

    /** Noisy top-k gating with the default parameter prefix "gate.". */
    public static NoisyTopKGating noisyTopK(int inputDim, int numExperts, int k) {
        return new NoisyTopKGating(inputDim, numExperts, k, true, "gate.", 0);
    }

    public int k() {
        return k;
    }

    public boolean noisy() {
        return noisy;
    }

    @Override
    public int numExperts() {
        return numExperts;
    }

    @Override
    public int slotsPerRow() {
        return k;
    }

    @Override
    public int statsSize() {
        return 2 * numExperts;
    }

    @Override
    public void declare(ParameterLayout.Builder layout) {
        layout.add(gateName, inputDim, numExperts);
        if (noisy) {
            layout.add(noiseName, inputDim, numExperts);
        }
    }

    @Override
    public void initialise(Parameters p, SplittableRandom random) {
        p.get(gateName).fill(0);
        if (noisy) {
            p.get(noiseName).fill(0);
        }
    }

    @Override
    public State newState(Precision precision) {
        return new State(precision, k, numExperts, noisy);
    }

    /** Whether this forward pass uses the smooth (differentiable) load estimator. */
    private boolean smoothLoad(GateNoise noise) {
        return noisy && noise.enabled() && k < numExperts;
    }

    @Override
    public void forward(Parameters p, Matrix x, long[] exampleIds, GateNoise noise, GatingState gs, double[] stats) {
        State s = (State) gs;
        int m = x.rows();
        int n = numExperts;
        s.reset(m);
        s.prepare(m, n, k);
        s.smoothLoad = smoothLoad(noise);
        s.noiseOn = noisy && noise.enabled();
        Matrix clean = s.clean.topRows(m);
        clean.gemm(1, x, false, p.get(gateName), false, 0);
        Matrix raw = null;
        if (noisy) {
            raw = s.raw.topRows(m);
            raw.gemm(1, x, false, p.get(noiseName), false, 0);
        }
        int[] expert = s.expert();
        double[] gate = s.gate();
        int topCount = Math.min(k + 1, n);
        // sigma goes into z's array, which loadTerms overwrites pair by pair after its last read of sigma (the backward
        // pass reads no sigma), and eps into scratch for a block of rows (the backward pass reads eps only at the
        // top k + 1 slots, kept in epsTop): per pair, two doubles less state and memory traffic than keeping both
        double[] cd = s.rowClean, nl = s.rowNoisy, sm = s.sigmoid, sg = s.loadZ, ep = s.blockEps;
        s.exampleIds = exampleIds;
        s.noise = noise;
        s.streamBase = streamBase;
        boolean f32 = s.precision == Precision.F32;
        int[] tk = s.rowTop;
        int block = s.blockRows;
        // first what each pair needs from no other: sigma and its sigmoid (softplus', for the backward pass) in one loop
        // over all rows, eps below in one loop over a block of rows; inside the row loop, among its many live values,
        // the same lookups cost up to twice as much. (softplusAll called once per block instead was inlined into this
        // method by C2 and then ran at half its speed: 5.5 -> 11 ns a pair.)
        if (noisy) {
            if (raw instanceof FloatMatrix f) {
                FloatGateFunctions.softplusAll(f.data(), f.offset(), m * n, sg, sm);
            } else {
                double[] d = ((DoubleMatrix) raw).data();
                int o = raw.offset();
                for (int i = 0; i < m * n; i++) softplus(d[o + i], NOISE_EPSILON, sg, sm, i);
            }
        }
        for (int r0 = 0; r0 < m; r0 += block) {
            int rows = Math.min(block, m - r0);
            if (s.noiseOn) {
                for (int r = r0; r < r0 + rows; r++) noise.fillRow(noise.rowKey(exampleIds[r]), streamBase, n, ep, (r - r0) * n);
            }
            // then one row at a time, everything in L1: the row's clean logits widened into cd and its noisy logits
            // in nl (row scratch, not kept); the load estimator keeps what its backward pass needs per pair (loadTerms)
            for (int r = r0; r < r0 + rows; r++) {
                int base = r * n;
                int lb = (r - r0) * n;
                if (s.noiseOn) {
                    widenNoisyRow(clean, base, n, ep, lb, sg, cd, nl);
                } else {
                    widenRow(clean, base, n, cd);
                    System.arraycopy(cd, 0, nl, 0, n);
                }
                int tb = r * (k + 1);
                if (k == n) {
                    identityWithMaxFirst(nl, 0, n, s.top, tb);
                } else {
                    selectTop(nl, 0, n, topCount, s.top, tb);
                }
                if (s.noiseOn) {
                    for (int j = 0; j < topCount; j++) s.epsTop[tb + j] = ep[lb + s.top[tb + j]];
                }
                // softmax over the k survivors
                double max = nl[s.top[tb]];
                double sum = 0;
                for (int j = 0; j < k; j++) {
                    double e = Math.exp(nl[s.top[tb + j]] - max);
                    gate[r * k + j] = e;
                    sum += e;
                }
                for (int j = 0; j < k; j++) {
                    int e = s.top[tb + j];
                    expert[r * k + j] = e;
                    gate[r * k + j] /= sum;
                    stats[e] += gate[r * k + j];
                }
                if (s.smoothLoad) {
                    double thrIn = nl[s.top[tb + k]];
                    double thrOut = nl[s.top[tb + k - 1]];
                    // P(x, i) with the threshold thrOut for the experts outside the top k, thrIn for the k inside: the
                    // runs between the top k's indices (ascending) with one threshold each, no per-expert threshold row
                    sortedTop(s.top, tb, k, tk);
                    int i = 0;
                    for (int j = 0; j <= k; j++) {
                        int end = j < k ? tk[j] : n;
                        loadTerms(stats, n, cd, sg, base, thrOut, f32, i, end, s.loadZ, s.loadW);
                        if (j < k) {
                            loadTerms(stats, n, cd, sg, base, thrIn, f32, end, end + 1, s.loadZ, s.loadW);
                            i = end + 1;
                        }
                    }
                } else {
                    for (int j = 0; j < k; j++) stats[n + s.top[tb + j]] += 1;
                }
            }
        }
    }

    /**
     * sigma = softplus(v) + {@code eps} into {@code sg[i]} and softplus'(v) = sigmoid(v) into
     * {@code sm[i]} (for the backward pass), in full precision from one exp: the float64 path's, and
     * the exact values {@link FloatGateFunctions} tabulates and falls back to.
     */
    static void softplus(double v, double eps, double[] sg, double[] sm, int i) {
        double ex = Math.exp(v > 0 ? -v : v);
        sg[i] = (v > 0 ? v + log1p(ex) : log1p(ex)) + eps;
        sm[i] = v >= 0 ? 1.0 / (1.0 + ex) : ex / (1.0 + ex);
    }

    @Override
    public BalanceResult balance(double[] stats, BalanceWeights w) {
        int n = numExperts;
        double[] grad = new double[2 * n];
        double li = w.importance() * CoefficientOfVariation.squared(stats, 0, n);
        double ll = w.load() * CoefficientOfVariation.squared(stats, n, n);
        CoefficientOfVariation.addGradient(stats, 0, n, w.importance(), grad, 0);
        CoefficientOfVariation.addGradient(stats, n, n, w.load(), grad, n);
        return new BalanceResult(li, ll, Arrays.copyOfRange(stats, 0, n), Arrays.copyOfRange(stats, n, 2 * n), grad);
    }

    @Override
    public void backward(Parameters p, Matrix x, GatingState gs, double[] statsGradient, Parameters grad, Matrix dx) {
        State s = (State) gs;
        int m = s.rows();
        int n = numExperts;
        Matrix dClean = s.dClean.topRows(m);
        Matrix dRaw = noisy ? s.dRaw.topRows(m) : null;
        double[] gate = s.gate();
        double[] dGate = s.gateGradient();
        int[] expert = s.expert();
        double[] dC = s.rowScratchC;
        double[] dS = s.rowScratchS;
        int[] tk = s.rowTop;
        for (int r = 0; r < m; r++) {
            int base = r * n;
            int tb = r * (k + 1);
            double dThrIn = 0, dThrOut = 0;
            if (s.smoothLoad) {
                // the load estimator's terms first, written into every entry of dC and dS, in runs between the top k's
                // indices (ascending): those in the top k feed one threshold's gradient, the rest the other. The
                // softmax's terms are added after them: a sum of two, the same either way round
                sortedTop(s.top, tb, k, tk);
                int i = 0;
                for (int j = 0; j <= k; j++) {
                    int end = j < k ? tk[j] : n;
                    dThrOut = loadGradients(statsGradient, n, s.loadZ, s.loadW, base, i, end, dC, dS, dThrOut);
                    if (j < k) {
                        dThrIn = loadGradients(statsGradient, n, s.loadZ, s.loadW, base, end, end + 1, dC, dS, dThrIn);
                        i = end + 1;
                    }
                }
            } else {
                Arrays.fill(dC, 0, n, 0.0);
                Arrays.fill(dS, 0, n, 0.0);
            }
            // softmax over the survivors; Importance adds dL/dImportance_i to every gate of expert i
            double dot = 0;
            for (int j = 0; j < k; j++) {
                int q = r * k + j;
                dot += gate[q] * (dGate[q] + statsGradient[expert[q]]);
            }
            for (int j = 0; j < k; j++) {
                int q = r * k + j;
                int i = expert[q];
                double dh = gate[q] * (dGate[q] + statsGradient[i] - dot);
                dC[i] += dh;
                if (s.noiseOn) dS[i] += dh * s.epsTop[tb + j];
            }
            if (s.smoothLoad) {
                // threshold = H_j = clean_j + eps_j * sigma_j
                int jIn = s.top[tb + k];
                int jOut = s.top[tb + k - 1];
                dC[jIn] += dThrIn;
                dS[jIn] += dThrIn * s.epsTop[tb + k];
                dC[jOut] += dThrOut;
                dS[jOut] += dThrOut * s.epsTop[tb + k - 1];
            }
            if (noisy) {
                storeRows(dC, dClean, dS, dRaw, base, n, s.sigmoid);
            } else {
                storeRow(dC, dClean, base, n, null, 0);
            }
        }
        grad.get(gateName).gemm(1, x, true, dClean, false, 1);
        if (dx != null) dx.gemm(1, dClean, false, p.get(gateName), true, 1);
        if (noisy) {
            grad.get(noiseName).gemm(1, x, true, dRaw, false, 1);
            if (dx != null) dx.gemm(1, dRaw, false, p.get(noiseName), true, 1);
        }
    }

    /**
     * log(1 + x) for x in [0, 1], within a few ulps of {@link Math#log1p} (Goldberg 1991, "What every
     * computer scientist should know about floating-point arithmetic", theorem 4): dividing by the
     * rounded {@code u - 1} cancels the rounding of {@code 1 + x}. Math.log1p is a native call on JDK
     * 17 (not an intrinsic like Math.log), about twice the cost of log; the gate evaluates it for
     * every (row, expert) pair.
     */
    static double log1p(double x) {
        double u = 1.0 + x;
        return u == 1.0 ? x : Math.log(u) * (x / (u - 1.0));
    }

    /**
     * Indices of the {@code count} largest of {@code v[base, base+n)} in descending order into
     * {@code out[ob, ob+count)}; ties go to the lower index. Insertion into a short sorted list:
     * O(n * count), fine for count = k + 1 small.
     */
    static void selectTop(double[] v, int base, int n, int count, int[] out, int ob) {
        int i = 0;
        // fill: the first count entries, insertion-sorted
        for (int len = 0; i < n && len < count; i++, len++) {
            double x = v[base + i];
            int pos = len;
            while (pos > 0 && x > v[base + out[ob + pos - 1]]) {
                out[ob + pos] = out[ob + pos - 1];
                pos--;
            }
            out[ob + pos] = i;
        }
        if (i < n) {
            // the smallest kept value, in a register: most entries fail this one test
            double floor = v[base + out[ob + count - 1]];
            for (; i < n; i++) {
                double x = v[base + i];
                if (x <= floor) continue;
                int pos = count - 1;
                while (pos > 0 && x > v[base + out[ob + pos - 1]]) {
                    out[ob + pos] = out[ob + pos - 1];
                    pos--;
                }
                out[ob + pos] = i;
                floor = v[base + out[ob + count - 1]];
            }
        }
    }

    /**
     * The load estimator (eq. 9) for experts [from, to) of one row, whose threshold is {@code thr}: with z = (clean_i -
     * thr) / sigma_i (sigma_i read from {@code sg[base + i]}, which may be {@code z} itself), Phi(z) added to the
     * expert's Load, and z and phi(z) / sigma_i kept in {@code z[base + i]} and
     * {@code w[base + i]} for the backward pass, which then needs neither a division nor a lookup: Phi and phi come
     * from one interval of one table, a second cubic from the same cache line.
     */
    private static void loadTerms(double[] stats, int n, double[] cd, double[] sg, int base, double thr, boolean f32,
                                  int from, int to, double[] z, double[] w) {
        if (f32) {
            for (int i = from; i < to; i++) {
                double inv = 1 / sg[base + i];
                double zi = (cd[i] - thr) * inv;
                z[base + i] = zi;
                stats[n + i] += FloatGateFunctions.cdfAndDensity(zi, inv, w, base + i);
            }
        } else {
            for (int i = from; i < to; i++) {
                double inv = 1 / sg[base + i];
                double zi = (cd[i] - thr) * inv;
                z[base + i] = zi;
                w[base + i] = NormalDistribution.density(zi) * inv;
                stats[n + i] += NormalDistribution.cdf(zi);
            }
        }
    }

    /**
     * The load estimator's backward terms of experts [from, to) of one row, from the forward pass's z and phi(z) /
     * sigma ({@link #loadTerms}): dC[i] = dP_i phi(z_i) / sigma_i and dS[i] = -dC[i] z_i (0 and 0 where dL/dLoad_i is
     * 0), written, not added, so that no fill of the row precedes them; returns {@code dThr} less the dC[i] in order:
     * the threshold's gradient, summed in a register (through memory every term would wait on the one before).
     */
    private static double loadGradients(double[] statsGradient, int n, double[] z, double[] w, int base, int from, int to,
                                        double[] dC, double[] dS, double dThr) {
        for (int i = from; i < to; i++) {
            double dP = statsGradient[n + i];
            if (dP == 0) {
                dC[i] = 0;
                dS[i] = 0;
                continue;
            }
            double dzs = w[base + i] * dP;
            dC[i] = dzs;
            dS[i] = 0.0 - dzs * z[base + i];
            dThr -= dzs;
        }
        return dThr;
    }

    /** The k indices {@code top[tb, tb + k)} in ascending order into {@code out[0, k)} (insertion: k is small). */
    private static void sortedTop(int[] top, int tb, int k, int[] out) {
        for (int j = 0; j < k; j++) {
            int v = top[tb + j];
            int p = j;
            while (p > 0 && out[p - 1] > v) {
                out[p] = out[p - 1];
                p--;
            }
            out[p] = v;
        }
    }

    /**
     * One row of the forward pass with noise: {@code cd[0, n)} = the clean logits {@code [base, base + n)} of the
     * matrix (widened to double where float) and {@code nl[i] = cd[i] + ep[lb + i] * sg[base + i]}, in one pass.
     */
    private static void widenNoisyRow(Matrix a, int base, int n, double[] ep, int lb, double[] sg, double[] cd, double[] nl) {
        if (a instanceof FloatMatrix f) {
            float[] d = f.data();
            int o = f.offset() + base;
            for (int i = 0; i < n; i++) {
                double c = d[o + i];
                cd[i] = c;
                nl[i] = c + ep[lb + i] * sg[base + i];
            }
        } else {
            double[] d = ((DoubleMatrix) a).data();
            int o = a.offset() + base;
            for (int i = 0; i < n; i++) {
                double c = d[o + i];
                cd[i] = c;
                nl[i] = c + ep[lb + i] * sg[base + i];
            }
        }
    }

    /**
     * {@link #storeRow} of {@code c} into {@code dc} and of {@code sv} times {@code scale[base, base + n)} into
     * {@code ds}: the gate's two gradient rows in one pass.
     */
    private static void storeRows(double[] c, Matrix dc, double[] sv, Matrix ds, int base, int n, double[] scale) {
        if (dc instanceof FloatMatrix fc && ds instanceof FloatMatrix fs) {
            float[] a = fc.data(), b = fs.data();
            int oa = fc.offset() + base, ob = fs.offset() + base;
            for (int i = 0; i < n; i++) {
                a[oa + i] = flushSubnormal((float) c[i]);
                b[ob + i] = flushSubnormal((float) (sv[i] * scale[base + i]));
            }
        } else {
            storeRow(c, dc, base, n, null, 0);
            storeRow(sv, ds, base, n, scale, base);
        }
    }

    /** {@code out[0, n)} = the matrix's elements {@code [base, base + n)} (one row), widened to double where float. */
    private static void widenRow(Matrix a, int base, int n, double[] out) {
        if (a instanceof FloatMatrix f) {
            float[] d = f.data();
            int o = f.offset() + base;
            for (int i = 0; i < n; i++) out[i] = d[o + i];
        } else {
            System.arraycopy(((DoubleMatrix) a).data(), a.offset() + base, out, 0, n);
        }
    }

    /**
     * Row {@code base / n} of {@code dst} = {@code src[0, n)}, times {@code scale[so, so + n)} elementwise
     * when given (rounded to the matrix's precision as {@link Matrix#set} does; in float32 subnormals become 0).
     */
    private static void storeRow(double[] src, Matrix dst, int base, int n, double[] scale, int so) {
        if (dst instanceof FloatMatrix f) {
            float[] d = f.data();
            int o = f.offset() + base;
            if (scale == null) {
                for (int i = 0; i < n; i++) d[o + i] = flushSubnormal((float) src[i]);
            } else {
                for (int i = 0; i < n; i++) d[o + i] = flushSubnormal((float) (src[i] * scale[so + i]));
            }
        } else {
            double[] d = ((DoubleMatrix) dst).data();
            int o = dst.offset() + base;
            if (scale == null) {
                System.arraycopy(src, 0, d, o, n);
            } else {
                for (int i = 0; i < n; i++) d[o + i] = src[i] * scale[so + i];
            }
        }
    }

    /**
     * 0 for a subnormal float: the gradient rows feed four native GEMMs, which slow down ~10x on subnormal
     * operands (session 8: 2.7% of them subnormal at n = 256, d = 512 took the gate's backward GEMMs from 27 to
     * 258 ms). A float gradient below 1.2e-38 is far below anything an update can use.
     */
    private static float flushSubnormal(float v) {
        return Math.abs(v) < Float.MIN_NORMAL ? 0f : v;
    }

    /**
     * Softmax gating keeps every expert, so order does not matter except that the softmax is
     * stabilised with the first entry: put the maximum there and skip the O(n^2) sort.
     */
    private static void identityWithMaxFirst(double[] v, int base, int n, int[] out, int ob) {
        int best = 0;
        for (int i = 0; i < n; i++) {
            out[ob + i] = i;
            if (v[base + i] > v[base + best]) best = i;
        }
        out[ob] = best;
        out[ob + best] = 0;
    }

    /**
     * Per-row logits, noise and top-k ranks kept for the backward pass; reused across steps. A
     * static class with plain fields, so that a cached step state can be serialised (Kryo) when
     * Spark reads it from another executor.
     */
    public static final class State extends GatingState {
        private final Precision precision;
        private final int numExperts;
        private final boolean noisy;
        private Matrix clean, raw, dClean, dRaw;
        /** Per (row, expert): softplus'(raw) = sigmoid(raw), for the backward pass. */
        private double[] sigmoid = new double[0];
        /** Per (row, top slot) with noise: eps of the expert in {@code top} there (the backward pass needs no other). */
        private double[] epsTop = new double[0];
        /**
         * Per (row, expert) with the smooth load estimator: z = (clean - threshold) / sigma and phi(z) / sigma, the
         * backward pass's factors.
         */
        private double[] loadZ = new double[0], loadW = new double[0];
        private int[] top = new int[0];
        /** Rows whose eps the forward pass draws at a time: about 2,048 pairs, 16 KB, in L1. */
        private final int blockRows;
        /** eps of one block of rows: scratch, not state. */
        private final double[] blockEps;
        /** One row's top k expert indices in ascending order: scratch, not state. */
        private final int[] rowTop;
        private final double[] rowScratchC;
        private final double[] rowScratchS;
        /** One row's clean and noisy logits in double: scratch, not state. */
        private final double[] rowClean, rowNoisy;
        /** The last forward pass's examples and noise, for the inspection methods only (they recompute eps; not serialised). */
        private transient long[] exampleIds;
        private transient GateNoise noise;
        private int streamBase;
        private boolean smoothLoad;
        private boolean noiseOn;

        State(Precision precision, int k, int numExperts, boolean noisy) {
            super(k);
            this.precision = precision;
            this.numExperts = numExperts;
            this.noisy = noisy;
            this.blockRows = Math.max(1, 2048 / numExperts);
            this.blockEps = new double[noisy ? blockRows * numExperts : 0];
            this.rowTop = new int[k];
            this.rowScratchC = new double[numExperts];
            this.rowScratchS = new double[numExperts];
            this.rowClean = new double[numExperts];
            this.rowNoisy = new double[numExperts];
        }

        void prepare(int m, int n, int k) {
            clean = Buffers.ensureRows(clean, precision, m, n);
            dClean = Buffers.ensureRows(dClean, precision, m, n);
            if (noisy) {
                raw = Buffers.ensureRows(raw, precision, m, n);
                dRaw = Buffers.ensureRows(dRaw, precision, m, n);
            }
            if (noisy) {
                sigmoid = Buffers.ensure(sigmoid, m * n);
                epsTop = Buffers.ensure(epsTop, m * (k + 1));
                loadZ = Buffers.ensure(loadZ, m * n);
                loadW = Buffers.ensure(loadW, m * n);
            }
            top = Buffers.ensure(top, m * (k + 1));
        }

        /** Clean logits (x W_g)_i of row r, for tests and inspection. */
        public double cleanLogit(int r, int i) {
            return clean.get(r, i);
        }

        /** Noisy logits H(x)_i of row r (the forward pass's expression and its eps, so the same value). */
        public double noisyLogit(int r, int i) {
            return noiseOn ? cleanLogit(r, i) + noise.sampleForRow(noise.rowKey(exampleIds[r]), streamBase + i) * noiseStddev(r, i)
                    : cleanLogit(r, i);
        }

        /** sigma_i(x) of row r (from x W_noise again: the forward pass's function, so the same value). */
        public double noiseStddev(int r, int i) {
            double[] sg = new double[1], sm = new double[1];
            if (precision == Precision.F32) {
                FloatGateFunctions.softplus(raw.get(r, i), sg, sm, 0);
            } else {
                softplus(raw.get(r, i), NOISE_EPSILON, sg, sm, 0);
            }
            return sg[0];
        }
    }
}
