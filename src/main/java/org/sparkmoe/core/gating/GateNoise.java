package org.sparkmoe.core.gating;

/**
 * The standard-normal noise eps of noisy top-k gating (paper section 2.1, eq. 4) as a pure function
 * of (seed, step, global example id, stream): a counter-based generator, not a shared Random. A
 * token therefore gets the same noise however the data is partitioned, and Spark can recompute a
 * lost partition from lineage and get the same numbers.
 *
 * <p>The stream identifies the expert within a gate ({@code streamBase + expert}); gates of a
 * hierarchical MoE use disjoint stream ranges.
 */
public final class GateNoise {
    private static final double INV_2_52 = 1.0 / (1L << 52);
    /** Counter increment between the polar method's attempts for one pair of streams (odd: a full period). */
    private static final long ATTEMPT_STRIDE = 0x632BE59BD9B4E019L;
    /** An attempt's second hash is of its first plus this. */
    private static final long SECOND_HASH = 0x9E3779B97F4A7C15L;

    private final long seed;
    private final long step;
    private final boolean enabled;

    private GateNoise(long seed, long step, boolean enabled) {
        this.seed = seed;
        this.step = step;
        this.enabled = enabled;
    }

    /** Noise for training step {@code step} of a run with {@code seed}. */
    public static GateNoise training(long seed, long step) {
        return new GateNoise(seed, step, true);
    }

    /** No noise: inference, H(x) = x W_g. */
    public static GateNoise none() {
        return new GateNoise(0, 0, false);
    }

    public boolean enabled() {
        return enabled;
    }

    public long seed() {
        return seed;
    }

    public long step() {
        return step;
    }

    /** eps ~ N(0,1) for this example and stream; 0 when noise is disabled. */
    public double sample(long exampleId, int stream) {
        return enabled ? normal(seed, step, exampleId, stream) : 0.0;
    }

    /**
     * The part of the hash that depends on the example only: a row's draws for all its streams
     * ({@link #sampleForRow}) hash it once instead of once per expert. Meaningful only when enabled.
     */
    public long rowKey(long exampleId) {
        return rowKey(seed, step, exampleId);
    }

    /** {@link #sample}{@code (exampleId, stream)} for {@code rowKey = rowKey(exampleId)}: the same value. */
    public double sampleForRow(long rowKey, int stream) {
        return enabled ? normalForRow(rowKey, stream) : 0.0;
    }

    /**
     * {@code out[off + i] = sampleForRow(rowKey, firstStream + i)} for i in [0, count): the same values,
     * each pair of streams from one draw of the polar method instead of one draw per stream.
     *
     * <p>Two passes over the row's pairs, so that no pair waits for another's accept test: the first
     * writes every pair's first attempt (u, v), hashes only, no branch on the data; the second
     * recomputes q from them, takes the log, division and root of the accepted pairs (independent
     * iterations the core overlaps) and redraws the rejected ones (1 - pi/4 of them) from the start. In
     * one pass each pair's accept test waited on its two dependent hashes and a wrong guess there
     * discarded the next pair's work: 17.6 ns a stream at n = 16 against about half of that.
     */
    public void fillRow(long rowKey, int firstStream, int count, double[] out, int off) {
        if (!enabled) {
            java.util.Arrays.fill(out, off, off + count, 0.0);
            return;
        }
        int end = firstStream + count;
        int s = firstStream;
        if ((s & 1) != 0 && s < end) {
            out[off] = normalForRow(rowKey, s);
            s++;
        }
        int pairsEnd = s + ((end - s) & ~1);
        int o0 = off - firstStream;
        for (int t = s; t < pairsEnd; t += 2) {
            long h = mix64(pairCounter(rowKey, t >> 1));
            out[o0 + t] = uniformSymmetric(h);
            out[o0 + t + 1] = uniformSymmetric(mix64(h + SECOND_HASH));
        }
        for (int t = s; t < pairsEnd; t += 2) {
            double u = out[o0 + t], v = out[o0 + t + 1];
            double q = u * u + v * v;
            if (q < 1.0) {
                double f = Math.sqrt(-2.0 * Math.log(q) / q);
                out[o0 + t] = u * f;
                out[o0 + t + 1] = v * f;
            } else {
                polarPair(rowKey, t >> 1, out, o0 + t);
            }
        }
        if (pairsEnd < end) out[o0 + pairsEnd] = normalForRow(rowKey, pairsEnd);
    }

    private static long rowKey(long seed, long step, long exampleId) {
        long h = mix64(seed ^ 0x9E3779B97F4A7C15L);
        h = mix64(h ^ step * 0xBF58476D1CE4E5B9L);
        return mix64(h ^ exampleId * 0x94D049BB133111EBL);
    }

    /** A standard normal draw determined by its four coordinates. */
    public static double normal(long seed, long step, long exampleId, int stream) {
        return normalForRow(rowKey(seed, step, exampleId), stream);
    }

    /**
     * Streams 2p and 2p+1 are the two outputs of one draw of Marsaglia's polar method (u, v uniform in
     * the unit disc, q = u^2 + v^2: u sqrt(-2 ln q / q) and v sqrt(-2 ln q / q) are independent standard
     * normals). Its attempts are hashes of (row, p, attempt number), so a rejected attempt (1 - pi/4 of
     * them) is redrawn deterministically. Unlike Box-Muller it needs no cos or sin, and one log and sqrt
     * serve two streams: about a third of the per-stream cost.
     */
    private static double normalForRow(long rowKey, int stream) {
        return polar(rowKey, stream >> 1, stream & 1, null, 0);
    }

    /** {@code out[off]} and {@code out[off + 1]} = streams 2p and 2p+1 of the row. */
    private static void polarPair(long rowKey, int p, double[] out, int off) {
        polar(rowKey, p, 2, out, off);
    }

    /** One draw for streams 2p and 2p+1: returns stream 2p + which for which 0 or 1; for 2 writes both to out. */
    private static double polar(long rowKey, int p, int which, double[] out, int off) {
        long c = pairCounter(rowKey, p);
        double u, v, q;
        do {
            long h = mix64(c);
            long h2 = mix64(h + SECOND_HASH);
            c += ATTEMPT_STRIDE;
            u = uniformSymmetric(h);
            v = uniformSymmetric(h2);
            q = u * u + v * v;
        } while (q >= 1.0);
        double f = Math.sqrt(-2.0 * Math.log(q) / q);
        if (which == 2) {
            out[off] = u * f;
            out[off + 1] = v * f;
            return 0;
        }
        return which == 0 ? u * f : v * f;
    }

    private static long pairCounter(long rowKey, int pair) {
        return rowKey ^ (pair + 1L) * 0xD6E8FEB86659FD93L;
    }

    /**
     * (k + 1/2) 2^-52 for the top 53 bits k of h as a signed integer in [-2^52, 2^52): uniform on a
     * lattice symmetric about 0 in (-1, 1) that excludes 0 (so q &gt; 0 and log q is finite), exact in double.
     */
    private static double uniformSymmetric(long h) {
        return ((h >> 11) + 0.5) * INV_2_52;
    }

    /** SplitMix64's finaliser: a bijective avalanche mix. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
