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
    private static final double INV_2_53 = 1.0 / (1L << 53);
    /** Counter increment between a stream's successive hashes (odd: a full period). */
    private static final long ATTEMPT_STRIDE = 0x632BE59BD9B4E019L;
    /** Ziggurat layers (a power of two: a draw's layer is the low bits of its hash). */
    private static final int LAYERS = 256;
    /**
     * Marsaglia and Tsang's 256-layer ziggurat for the normal density f(x) = exp(-x^2 / 2) ("The ziggurat
     * method for generating random variables", J. Stat. Softw. 5(8), 2000): R is where the tail starts, V each
     * layer's area. With them the top layer's area comes out at V to 1e-12 relative.
     */
    private static final double R = 3.6541528853610088, V = 0.00492867323399;
    /**
     * Per layer i: {@code ZT[2i]} its half-width x_i (layer 0, the base strip with the tail under it, as the width of
     * a rectangle of area V at height f(R)) and {@code ZT[2i + 1]} = x_{i+1} / x_i, below which |u| lies inside the
     * layer above and so under the curve: the fast path's one compare. Side by side: one cache line per draw.
     */
    private static final double[] ZT = new double[2 * LAYERS];
    /** f(x_i) for i in [0, LAYERS], with f(x_0) taken as f(R) (the base strip's height) and x_LAYERS = 0. */
    private static final double[] ZF = new double[LAYERS + 1];

    static {
        double[] x = new double[LAYERS + 1];
        x[0] = V / density(R);
        x[1] = R;
        for (int i = 1; i < LAYERS - 1; i++) x[i + 1] = Math.sqrt(-2 * Math.log(V / x[i] + density(x[i])));
        x[LAYERS] = 0;
        for (int i = 0; i < LAYERS; i++) {
            ZT[2 * i] = x[i];
            ZT[2 * i + 1] = x[i + 1] / x[i];
        }
        ZF[0] = density(R);
        for (int i = 1; i <= LAYERS; i++) ZF[i] = density(x[i]);
    }

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
     * {@code out[off + i] = sampleForRow(rowKey, firstStream + i)} for i in [0, count): the same values. The
     * ziggurat's fast path inline (one hash, two table loads, a compare and a multiply a stream); the 1.5% of draws
     * that miss it take {@link #slow}.
     */
    public void fillRow(long rowKey, int firstStream, int count, double[] out, int off) {
        if (!enabled) {
            java.util.Arrays.fill(out, off, off + count, 0.0);
            return;
        }
        for (int i = 0; i < count; i++) {
            long key = streamKey(rowKey, firstStream + i);
            long h = mix64(key);
            int l = 2 * ((int) h & (LAYERS - 1));
            double u = uniformSymmetric(h);
            out[off + i] = Math.abs(u) < ZT[l + 1] ? u * ZT[l] : slow(key, h);
        }
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
     * One draw of the ziggurat (Marsaglia and Tsang 2000) from the stream's hashes: the first, h = mix64(key),
     * gives the layer (its low 8 bits) and a uniform u in (-1, 1) (its top 53); x = u x_layer is the draw when
     * |x| &lt; x_{layer+1} (98.5% of first hashes). Every further uniform the method needs (wedges, tail, a
     * rejected attempt's redraw) is the next hash, mix64(key + j * stride), so a draw is a pure function of its
     * coordinates. No log, division or root on the fast path: the polar method before it paid one of each per
     * two streams.
     */
    private static double normalForRow(long rowKey, int stream) {
        long key = streamKey(rowKey, stream);
        long h = mix64(key);
        int l = 2 * ((int) h & (LAYERS - 1));
        double u = uniformSymmetric(h);
        return Math.abs(u) < ZT[l + 1] ? u * ZT[l] : slow(key, h);
    }

    /** The draw whose first hash {@code h} = mix64(key) missed the fast path: wedge, tail or a new attempt. */
    private static double slow(long key, long h) {
        long c = key;
        for (;;) {
            int layer = (int) h & (LAYERS - 1);
            double u = uniformSymmetric(h);
            double x = u * ZT[2 * layer];
            if (Math.abs(u) < ZT[2 * layer + 1]) return x;
            if (layer == 0) {
                // the tail beyond R (Marsaglia 1964): R + a with a ~ Exp(R), accepted with probability exp(-a^2 / 2)
                double a, b;
                do {
                    c += ATTEMPT_STRIDE;
                    a = -Math.log(uniformOpen(mix64(c))) / R;
                    c += ATTEMPT_STRIDE;
                    b = -Math.log(uniformOpen(mix64(c)));
                } while (b + b <= a * a);
                return u < 0 ? -(R + a) : R + a;
            }
            // the wedge between f(x_layer) and f(x_{layer+1}) at |x|: under the curve or not
            c += ATTEMPT_STRIDE;
            double y = ZF[layer] + uniformOpen(mix64(c)) * (ZF[layer + 1] - ZF[layer]);
            if (y < density(x)) return x;
            c += ATTEMPT_STRIDE;
            h = mix64(c);
        }
    }

    /** exp(-x^2 / 2): the normal density without its constant, as the ziggurat's tables use it. */
    private static double density(double x) {
        return Math.exp(-0.5 * x * x);
    }

    private static long streamKey(long rowKey, int stream) {
        return rowKey ^ (stream + 1L) * 0xD6E8FEB86659FD93L;
    }

    /**
     * (k + 1/2) 2^-52 for the top 53 bits k of h as a signed integer in [-2^52, 2^52): uniform on a
     * lattice symmetric about 0 in (-1, 1) that excludes 0, exact in double. Disjoint from the low 8 bits
     * that pick the layer.
     */
    private static double uniformSymmetric(long h) {
        return ((h >> 11) + 0.5) * INV_2_52;
    }

    /** (k + 1/2) 2^-53 for the top 53 bits k of h: uniform in (0, 1), so its log is finite. */
    private static double uniformOpen(long h) {
        return ((h >>> 11) + 0.5) * INV_2_53;
    }

    /** SplitMix64's finaliser: a bijective avalanche mix. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
