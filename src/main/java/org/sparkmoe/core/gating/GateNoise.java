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
    /** Counter increment between the ziggurat's attempts for one stream (odd: a full period). */
    private static final long ATTEMPT_STRIDE = 0x632BE59BD9B4E019L;
    /** Salts of the wedge test's and the tail's hashes (so they differ from the next attempt's). */
    private static final long WEDGE = 0x5851F42D4C957F2DL, TAIL = 0x2545F4914F6CDD1DL;
    private static final int LAYERS = 128;
    /** The ziggurat's R (the base layer's right edge) and V (each layer's area) for 128 layers (Doornik 2005). */
    private static final double ZIG_TAIL = 3.442619855899, ZIG_V = 9.91256303526217e-3;
    /** ZIG_X[i]: layer i's right edge (ZIG_X[0] = V / f(R), the base layer's rectangle-equivalent width); ZIG_R[i] = X[i+1] / X[i]. */
    private static final double[] ZIG_X = new double[LAYERS + 1], ZIG_R = new double[LAYERS];

    static {
        // StrictMath: the same tables on every JVM and platform
        double f = StrictMath.exp(-0.5 * ZIG_TAIL * ZIG_TAIL);
        ZIG_X[0] = ZIG_V / f;
        ZIG_X[1] = ZIG_TAIL;
        ZIG_X[LAYERS] = 0;
        for (int i = 2; i < LAYERS; i++) {
            ZIG_X[i] = StrictMath.sqrt(-2 * StrictMath.log(ZIG_V / ZIG_X[i - 1] + f));
            f = StrictMath.exp(-0.5 * ZIG_X[i] * ZIG_X[i]);
        }
        for (int i = 0; i < LAYERS; i++) ZIG_R[i] = ZIG_X[i + 1] / ZIG_X[i];
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

    /** {@code out[off + i] = sampleForRow(rowKey, firstStream + i)} for i in [0, count): the same values. */
    public void fillRow(long rowKey, int firstStream, int count, double[] out, int off) {
        if (!enabled) {
            java.util.Arrays.fill(out, off, off + count, 0.0);
            return;
        }
        for (int i = 0; i < count; i++) out[off + i] = normalForRow(rowKey, firstStream + i);
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
     * The ziggurat method (Marsaglia and Tsang 2000, in Doornik's 2005 form ZIGNOR, 128 layers): one 64-bit
     * hash of (row, stream, attempt) gives the layer (its low 7 bits) and a symmetric uniform (its top 53); in
     * 98.8% of draws the point lies in the layer's rectangle and the draw is one multiplication, with no
     * transcendental call. Otherwise the wedge test (two exps) or, in the base layer, the tail beyond R (two
     * logs a try) decides, redrawing from the next attempt's hash; these rare paths use StrictMath, so a
     * draw does not depend on the JVM's intrinsics. Exact: the draws are N(0,1) up to the
     * rounding of the tables and of the uniforms.
     */
    private static double normalForRow(long rowKey, int stream) {
        long c = rowKey ^ (stream + 1L) * 0xD6E8FEB86659FD93L;
        for (;;) {
            long h = mix64(c);
            c += ATTEMPT_STRIDE;
            int i = (int) h & (LAYERS - 1);
            double u = uniformSymmetric(h);
            if (Math.abs(u) < ZIG_R[i]) return u * ZIG_X[i];
            if (i == 0) return tail(c, u < 0);
            double x = u * ZIG_X[i];
            double f0 = StrictMath.exp(-0.5 * (ZIG_X[i] * ZIG_X[i] - x * x));
            double f1 = StrictMath.exp(-0.5 * (ZIG_X[i + 1] * ZIG_X[i + 1] - x * x));
            if (f1 + uniform(mix64(c ^ WEDGE)) * (f0 - f1) < 1.0) return x;
        }
    }

    /** Marsaglia's tail method beyond R: x = -ln(U1) / R, y = -ln(U2) until 2y &gt; x^2; R + x. */
    private static double tail(long c, boolean negative) {
        double x, y;
        do {
            long h = mix64(c ^ TAIL);
            c += ATTEMPT_STRIDE;
            x = StrictMath.log(uniform(h)) / ZIG_TAIL;
            y = StrictMath.log(uniform(mix64(h)));
        } while (-2 * y < x * x);
        return negative ? x - ZIG_TAIL : ZIG_TAIL - x;
    }

    /**
     * (k + 1/2) 2^-52 for the top 53 bits k of h as a signed integer in [-2^52, 2^52): uniform on a
     * lattice symmetric about 0 in (-1, 1), exact in double.
     */
    private static double uniformSymmetric(long h) {
        return ((h >> 11) + 0.5) * INV_2_52;
    }

    /** (k + 1/2) 2^-53 for the top 53 bits k of h: uniform in (0, 1), never 0 (so its log is finite). */
    private static double uniform(long h) {
        return ((h >>> 11) + 0.5) * (0.5 * INV_2_52);
    }

    /** SplitMix64's finaliser: a bijective avalanche mix. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
