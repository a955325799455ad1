package org.sparkmoe.core.gating;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.expert.Expert;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/** The invariants of docs/DESIGN.md section 3 that the gating must satisfy. */
class GatingInvariantsTest {
    private static final Precision F64 = Precision.F64;

    private static Parameters params(Gating g, double scale, long seed) {
        ParameterLayout.Builder b = ParameterLayout.builder();
        g.declare(b);
        Parameters p = b.build().allocate(F64);
        SplittableRandom r = new SplittableRandom(seed);
        p.fill(() -> r.nextGaussian() * scale);
        return p;
    }

    private static Matrix randomRows(int m, int d, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        Matrix x = F64.zeros(m, d);
        for (int i = 0; i < x.size(); i++) x.setFlat(i, r.nextGaussian());
        return x;
    }

    private static long[] ids(int m) {
        long[] ids = new long[m];
        for (int i = 0; i < m; i++) ids[i] = i;
        return ids;
    }

    @Test
    void gateRowsSumToOneWithExactlyKNonZerosAndImportanceSumsToBatchSize() {
        int m = 200;
        Gating[] gatings = {NoisyTopKGating.noisyTopK(6, 16, 4), new HierarchicalGating(6, 4, 5, 2, 2, true),
                NoisyTopKGating.softmax(6, 5)};
        int[] expectedNonZeros = {4, 4, 5};
        for (int gi = 0; gi < gatings.length; gi++) {
            Gating g = gatings[gi];
            Parameters p = params(g, 0.5, 1 + gi);
            Matrix x = randomRows(m, 6, 2);
            GatingState s = g.newState(F64);
            double[] stats = new double[g.statsSize()];
            g.forward(p, x, ids(m), GateNoise.training(5, 1), s, stats);
            for (int r = 0; r < m; r++) {
                double sum = 0;
                int nonZero = 0;
                java.util.Set<Integer> distinct = new java.util.HashSet<>();
                for (int q = 0; q < g.slotsPerRow(); q++) {
                    double v = s.gate()[r * g.slotsPerRow() + q];
                    sum += v;
                    if (v > 0) {
                        nonZero++;
                        distinct.add(s.expert()[r * g.slotsPerRow() + q]);
                    }
                }
                assertEquals(1.0, sum, 1e-12, "row " + r + " of gating " + gi);
                assertEquals(expectedNonZeros[gi], nonZero, "non-zero gates in row " + r + " of gating " + gi);
                assertEquals(nonZero, distinct.size(), "an expert appears twice in row " + r);
            }
            double importance = 0;
            for (int e = 0; e < g.numExperts(); e++) importance += stats[e];
            assertEquals(m, importance, 1e-9, "sum of Importance, gating " + gi);
        }
    }

    @Test
    void atZeroInitialisationEveryExpertExpectsLoadKBOverN() {
        int n = 8, k = 2, m = 4000;
        NoisyTopKGating g = NoisyTopKGating.noisyTopK(5, n, k);
        Parameters p = params(g, 0, 0);  // W_g = W_noise = 0
        Matrix x = randomRows(m, 5, 3);
        double[] stats = new double[g.statsSize()];
        g.forward(p, x, ids(m), GateNoise.training(17, 1), g.newState(F64), stats);
        double expected = (double) k * m / n;
        // each P(x,i) is in [0,1], so the sum of m of them has std <= sqrt(m)/2
        double tolerance = 5 * Math.sqrt(m) / 2;
        for (int i = 0; i < n; i++) {
            assertEquals(expected, stats[n + i], tolerance, "smooth load of expert " + i);
            assertEquals(expected, stats[i] * k, 4 * tolerance, "importance of expert " + i);
        }
        BalanceResult b = g.balance(stats, BalanceWeights.PAPER);
        assertTrue(b.cvLoad() < 0.1, "CV(Load) at zero init " + b.cvLoad());
    }

    /**
     * P(x,i) is the probability that expert i is in the top k when only its own noise is redrawn:
     * simulate exactly that from the kept logits, for every expert of several rows.
     */
    @Test
    void loadProbabilityMatchesOwnNoiseRedrawFrequency() {
        int n = 6, k = 2, d = 4;
        NoisyTopKGating g = NoisyTopKGating.noisyTopK(d, n, k);
        Parameters p = params(g, 0.6, 9);
        Random rnd = new Random(123);
        for (int row = 0; row < 5; row++) {
            Matrix x = randomRows(1, d, 40 + row);
            NoisyTopKGating.State s = g.newState(F64);
            double[] stats = new double[g.statsSize()];
            g.forward(p, x, new long[]{row}, GateNoise.training(77, 2), s, stats);
            for (int i = 0; i < n; i++) {
                int trials = 20000;
                int inTop = 0;
                for (int t = 0; t < trials; t++) {
                    double hi = s.cleanLogit(0, i) + rnd.nextGaussian() * s.noiseStddev(0, i);
                    int above = 0;
                    for (int j = 0; j < n; j++) if (j != i && s.noisyLogit(0, j) > hi) above++;
                    if (above < k) inTop++;
                }
                double freq = (double) inTop / trials;
                double pr = stats[n + i];
                double se = Math.sqrt(Math.max(pr * (1 - pr), 1e-4) / trials);
                assertEquals(freq, pr, 5 * se + 1e-3, "P(x," + i + ") of row " + row);
            }
        }
    }

    /** E_noise[P(x,i)] equals how often i lands in the top k under fresh noise for all experts. */
    @Test
    void expectedLoadProbabilityMatchesTopKFrequency() {
        int n = 5, k = 2, d = 4, steps = 6000;
        NoisyTopKGating g = NoisyTopKGating.noisyTopK(d, n, k);
        Parameters p = params(g, 0.5, 21);
        Matrix x = randomRows(1, d, 22);
        double[] meanP = new double[n];
        double[] freq = new double[n];
        GatingState s = g.newState(F64);
        for (int step = 0; step < steps; step++) {
            double[] stats = new double[g.statsSize()];
            g.forward(p, x, new long[]{0}, GateNoise.training(5, step), s, stats);
            for (int i = 0; i < n; i++) meanP[i] += stats[n + i] / steps;
            for (int j = 0; j < k; j++) freq[s.expert()[j]] += 1.0 / steps;
        }
        for (int i = 0; i < n; i++) {
            assertEquals(freq[i], meanP[i], 5 * Math.sqrt(0.25 / steps), "expert " + i);
        }
    }

    @Test
    void withKEqualsOneTheTaskLossGivesTheGateNoGradient() {
        int d = 4, n = 5, m = 30, h = 3;
        NoisyTopKGating g = NoisyTopKGating.noisyTopK(d, n, 1);
        Expert expert = new Expert(d, h);
        MoELayer layer = new MoELayer(g, expert, false, BalanceWeights.NONE);
        Parameters shared = params(g, 0.7, 4);
        SplittableRandom r = new SplittableRandom(5);
        Parameters[] experts = new Parameters[n];
        Parameters[] grads = new Parameters[n];
        for (int e = 0; e < n; e++) {
            experts[e] = expert.initialise(F64, r);
            grads[e] = experts[e].zerosLike();
        }
        Matrix x = randomRows(m, d, 6);
        Matrix y = F64.zeros(m, d);
        MoELayer.Workspace ws = layer.newWorkspace(F64);
        double[] stats = new double[g.statsSize()];
        layer.forward(shared, experts, x, ids(m), GateNoise.training(1, 1), ws, y, stats);
        Matrix dY = randomRows(m, d, 7);
        Parameters sharedGrad = shared.zerosLike();
        Matrix dx = F64.zeros(m, d);
        layer.backward(shared, experts, x, ws, dY, layer.balance(stats).statsGradient(), sharedGrad, grads, dx);
        assertEquals(0.0, sharedGrad.flat().sumOfSquares(), 0.0, "k = 1: softmax over one survivor is constant");
        double expertSignal = 0;
        for (Parameters gr : grads) expertSignal += gr.flat().sumOfSquares();
        assertTrue(expertSignal > 0, "experts still learn with k = 1");
    }

    @Test
    void noiseIsAPureFunctionOfItsCoordinates() {
        double a = GateNoise.normal(1, 2, 3, 4);
        assertEquals(a, GateNoise.normal(1, 2, 3, 4));
        assertNotEquals(a, GateNoise.normal(1, 2, 3, 5));
        assertNotEquals(a, GateNoise.normal(1, 2, 4, 4));
        assertNotEquals(a, GateNoise.normal(1, 3, 3, 4));
        assertNotEquals(a, GateNoise.normal(2, 2, 3, 4));
        // moments of the stream
        int n = 200000;
        double sum = 0, sq = 0;
        for (int i = 0; i < n; i++) {
            double z = GateNoise.normal(9, 1, i, i % 7);
            sum += z;
            sq += z * z;
        }
        assertEquals(0, sum / n, 0.01);
        assertEquals(1, sq / n, 0.01);
        assertEquals(0.0, GateNoise.none().sample(5, 5));
    }

    /**
     * The noise's moments to the fourth, and its frequencies beyond |z| = 1, 2, 3 and 4, each within 4.5
     * binomial standard deviations of the normal's, on two million draws of whole rows.
     */
    @Test
    void noiseHasNormalMomentsAndTails() {
        GateNoise g = GateNoise.training(11, 3);
        int rows = 62500, streams = 32;
        long m = (long) rows * streams;
        double[] row = new double[streams];
        double s1 = 0, s2 = 0, s3 = 0, s4 = 0;
        double[] edges = {1, 2, 3, 4};
        long[] beyond = new long[edges.length];
        for (int r = 0; r < rows; r++) {
            g.fillRow(g.rowKey(r), 0, streams, row, 0);
            for (double z : row) {
                s1 += z;
                s2 += z * z;
                s3 += z * z * z;
                s4 += z * z * z * z;
                for (int e = 0; e < edges.length; e++) if (Math.abs(z) > edges[e]) beyond[e]++;
            }
        }
        assertEquals(0, s1 / m, 0.004);
        assertEquals(1, s2 / m, 0.005);
        assertEquals(0, s3 / m, 0.015);
        assertEquals(3, s4 / m, 0.04);
        for (int e = 0; e < edges.length; e++) {
            double p = 2 * NormalDistribution.cdf(-edges[e]);
            double sd = Math.sqrt(m * p * (1 - p));
            assertEquals(m * p, beyond[e], 4.5 * sd, "draws beyond |z| = " + edges[e]);
        }
    }

    /**
     * The ziggurat's three ways to a draw, each standard normal where it acts. Body and wedges: two million
     * draws of whole rows in 100 bins of width 0.09 on [-4.5, 4.5] (and one bin beyond each end) against Phi,
     * chi-square within 4.5 standard deviations of its degrees of freedom (a wedge test against twice the density
     * reads 18 there, this sampler -0.7). Tail: 32 million draws, those beyond R = 3.654 (about 8,000)
     * against the normal beyond R: their count within 4.5 binomial standard deviations, Kolmogorov-Smirnov at
     * the 1% level, and their mean excess over R, phi(R) / (1 - Phi(R)) - R, within 4.5 standard errors.
     */
    @Test
    void zigguratIsStandardNormalInTheBodyAndTheTail() {
        GateNoise g = GateNoise.training(23, 8);
        int streams = 256;
        double[] row = new double[streams];
        int bins = 100;
        double lo = -4.5, w = 9.0 / bins;
        long[] count = new long[bins + 2];
        long m = 0;
        for (int r = 0; r < 7813; r++) {
            g.fillRow(g.rowKey(r), 0, streams, row, 0);
            for (double z : row) {
                int b = z < lo ? 0 : Math.min(bins + 1, 1 + (int) ((z - lo) / w));
                count[b]++;
                m++;
            }
        }
        double chi = 0;
        for (int b = 0; b < bins + 2; b++) {
            double p = (b == bins + 1 ? 1 : NormalDistribution.cdf(lo + b * w)) - (b == 0 ? 0 : NormalDistribution.cdf(lo + (b - 1) * w));
            chi += (count[b] - m * p) * (count[b] - m * p) / (m * p);
        }
        int df = bins + 1;
        assertEquals(df, chi, 4.5 * Math.sqrt(2.0 * df), "chi-square of the body");

        double r0 = 3.6541528853610088;
        double[] tail = new double[16384];
        int t = 0;
        long mt = 0;
        for (int r = 0; r < 125000; r++) {
            g.fillRow(g.rowKey(100000 + r), 0, streams, row, 0);
            mt += streams;
            for (double z : row) if (Math.abs(z) > r0) tail[t++] = Math.abs(z);
        }
        double pt = NormalDistribution.cdf(-r0);
        assertEquals(2 * mt * pt, t, 4.5 * Math.sqrt(2 * mt * pt), "draws beyond the tail's start");
        tail = Arrays.copyOf(tail, t);
        Arrays.sort(tail);
        double kt = 0, excess = 0, excess2 = 0;
        for (int i = 0; i < t; i++) {
            double p = 1 - NormalDistribution.cdf(-tail[i]) / pt;
            kt = Math.max(kt, Math.max(Math.abs(p - (double) i / t), Math.abs(p - (double) (i + 1) / t)));
            excess += tail[i] - r0;
            excess2 += (tail[i] - r0) * (tail[i] - r0);
        }
        assertTrue(kt < 1.63 / Math.sqrt(t), "tail KS distance " + kt + " over " + t + " draws");
        double mean = excess / t, sd = Math.sqrt(excess2 / t - mean * mean);
        assertEquals(NormalDistribution.density(r0) / pt - r0, mean, 4.5 * sd / Math.sqrt(t), "mean excess over R");
    }

    /**
     * fillRow gives what sample gives stream by stream (also from an odd first stream and for an odd count), and
     * the draws are standard normal (Kolmogorov-Smirnov against Phi, separately for even and odd streams) with
     * neighbouring streams uncorrelated.
     */
    @Test
    void rowFillEqualsSingleDrawsAndIsStandardNormal() {
        GateNoise g = GateNoise.training(5, 17);
        double[] row = new double[9];
        for (long id = 0; id < 50; id++) {
            int first = (int) (id % 4);
            g.fillRow(g.rowKey(id), first, 9, row, 0);
            for (int i = 0; i < 9; i++) assertEquals(g.sample(id, first + i), row[i], 0.0);
        }
        int m = 100000;
        double[] even = new double[m], odd = new double[m];
        double[] pair = new double[2];
        double cross = 0;
        for (int i = 0; i < m; i++) {
            g.fillRow(g.rowKey(i), 6, 2, pair, 0);
            even[i] = pair[0];
            odd[i] = pair[1];
            cross += pair[0] * pair[1];
        }
        assertEquals(0, cross / m, 0.015, "the two outputs of a draw are uncorrelated");
        for (double[] z : new double[][]{even, odd}) {
            Arrays.sort(z);
            double ks = 0;
            for (int i = 0; i < m; i++) {
                double p = NormalDistribution.cdf(z[i]);
                ks = Math.max(ks, Math.max(Math.abs(p - (double) i / m), Math.abs(p - (double) (i + 1) / m)));
            }
            // 1.63 / sqrt(m) is the 1% critical value of the Kolmogorov-Smirnov statistic
            assertTrue(ks < 1.63 / Math.sqrt(m), "KS distance " + ks);
        }
    }

    @Test
    void gatingOfARowDoesNotDependOnTheBlockItIsIn() {
        NoisyTopKGating g = NoisyTopKGating.noisyTopK(4, 8, 2);
        Parameters p = params(g, 0.5, 31);
        Matrix x = randomRows(10, 4, 32);
        long[] ids = {50, 51, 52, 53, 54, 55, 56, 57, 58, 59};
        GatingState whole = g.newState(F64);
        g.forward(p, x, ids, GateNoise.training(3, 3), whole, new double[g.statsSize()]);
        Matrix part = F64.zeros(3, 4);
        part.gatherRows(x, new int[]{7, 2, 9}, 0, 3);
        GatingState s = g.newState(F64);
        g.forward(p, part, new long[]{57, 52, 59}, GateNoise.training(3, 3), s, new double[g.statsSize()]);
        int[] rows = {7, 2, 9};
        for (int q = 0; q < 3; q++) {
            for (int j = 0; j < 2; j++) {
                assertEquals(whole.expert()[rows[q] * 2 + j], s.expert()[q * 2 + j]);
                assertEquals(whole.gate()[rows[q] * 2 + j], s.gate()[q * 2 + j], 1e-12);
            }
        }
    }

    /** The top-k selection against a stable sort: descending values, ties to the lower index, at offsets into shared arrays. */
    @Test
    void selectTopEqualsAStableDescendingSort() {
        SplittableRandom r = new SplittableRandom(5);
        for (int trial = 0; trial < 300; trial++) {
            int n = 1 + r.nextInt(40);
            int count = 1 + r.nextInt(n);
            int base = r.nextInt(5);
            int ob = r.nextInt(5);
            double[] v = new double[base + n];
            // few distinct values, so that ties are common
            for (int i = 0; i < v.length; i++) v[i] = trial % 2 == 0 ? r.nextInt(6) - 3 : r.nextGaussian();
            int[] out = new int[ob + count];
            NoisyTopKGating.selectTop(v, base, n, count, out, ob);
            Integer[] order = new Integer[n];
            for (int i = 0; i < n; i++) order[i] = i;
            java.util.Arrays.sort(order, (a, b) -> Double.compare(v[base + b], v[base + a])); // stable: ties keep index order
            for (int j = 0; j < count; j++) {
                assertEquals(order[j].intValue(), out[ob + j], "trial " + trial + " (n " + n + ", count " + count + "), rank " + j);
            }
        }
    }

    @Test
    void normalCdfIsAccurate() {
        assertEquals(0.5, NormalDistribution.cdf(0), 1e-16);
        assertEquals(0.8413447460685429, NormalDistribution.cdf(1), 1e-15);
        assertEquals(0.9772498680518208, NormalDistribution.cdf(2), 1e-15);
        assertEquals(0.0013498980316300946, NormalDistribution.cdf(-3), 1e-15);
        assertEquals(9.865876450376946e-10, NormalDistribution.cdf(-6), 1e-20);
        assertEquals(3.1671241833119863e-05, NormalDistribution.cdf(-4), 1e-16);
        assertEquals(0.9999683287581669, NormalDistribution.cdf(4), 1e-15);
        // relative accuracy ~1e-12 in the tails, which is what the load gradient needs
        // derivative consistency at the series / continued-fraction boundary (|x| = 3 in erfc: z = 4.24)
        double z = 3 * Math.sqrt(2);
        double num = (NormalDistribution.cdf(-z + 1e-6) - NormalDistribution.cdf(-z - 1e-6)) / 2e-6;
        assertEquals(NormalDistribution.density(z), num, 1e-9);
    }

    @Test
    void invalidConfigurationsNameTheProblem() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NoisyTopKGating.noisyTopK(4, 3, 4));
        assertTrue(e.getMessage().contains("k must be in [1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> NoisyTopKGating.noisyTopK(4, 3, 0));
        assertTrue(e.getMessage().contains("got 0"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> new BalanceWeights(-1, 0));
        assertTrue(e.getMessage().contains("w_importance=-1"), e.getMessage());
    }
}
