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
    private static final double INV_2_53 = 1.0 / (1L << 53);

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

    private static long rowKey(long seed, long step, long exampleId) {
        long h = mix64(seed ^ 0x9E3779B97F4A7C15L);
        h = mix64(h ^ step * 0xBF58476D1CE4E5B9L);
        return mix64(h ^ exampleId * 0x94D049BB133111EBL);
    }

    /** A standard normal draw determined by its four coordinates (Box-Muller on two hashed uniforms). */
    public static double normal(long seed, long step, long exampleId, int stream) {
        return normalForRow(rowKey(seed, step, exampleId), stream);
    }

    private static double normalForRow(long rowKey, int stream) {
        long h = mix64(rowKey ^ (stream + 1L) * 0xD6E8FEB86659FD93L);
        long h2 = mix64(h + 0x9E3779B97F4A7C15L);
        double u1 = ((h >>> 11) + 1) * INV_2_53;  // (0, 1]: log is finite
        double u2 = (h2 >>> 11) * INV_2_53;
        return Math.sqrt(-2.0 * Math.log(u1)) * Math.cos(2.0 * Math.PI * u2);
    }

    /** SplitMix64's finaliser: a bijective avalanche mix. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
