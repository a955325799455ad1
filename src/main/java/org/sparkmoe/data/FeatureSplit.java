package org.sparkmoe.data;

/**
 * A deterministic train / held-out split of a {@link FeatureTable}: an example is held out when a
 * 64-bit hash of (its global id, the seed) falls below the fraction. The decision depends on nothing
 * but id, fraction and seed, so reruns (with any partitioning) agree, the two sides are disjoint and
 * together hold every example, and a larger fraction with the same seed holds out a superset.
 */
public record FeatureSplit(FeatureTable train, FeatureTable heldOut) {

    /** Whether example {@code id} is held out for {@code fraction} in [0, 1] and {@code seed}. */
    public static boolean isHeldOut(long id, double fraction, long seed) {
        return unit(id, seed) < fraction;
    }

    /** The example's uniform number in [0, 1): 53 bits of SplitMix64-mixed (id, seed). */
    static double unit(long id, long seed) {
        long h = mix(mix(seed + 0x9E3779B97F4A7C15L) ^ id);
        return (h >>> 11) * 0x1.0p-53;
    }

    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
