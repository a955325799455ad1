package org.sparkmoe.core.gating;

/**
 * The gate's per-(row, expert) functions to float precision for the float32 hot path: softplus and its
 * derivative (the noise scale, eq. 4) and the normal CDF Phi and density phi (the load estimator, eq. 9, and its gradient), by cubic
 * Hermite interpolation in tables of exact values and exact derivatives. A lookup is a few loads and
 * about fifteen multiply-adds, against an exp, a log and a division (softplus) or an exp and a division
 * (Phi); the backward pass's density phi from the same table: these run for every pair, and in float32 their own rounding is of the size
 * of the tables' error. The float64 path keeps the exact forms, so gradient checks test our derivatives.
 */
final class FloatGateFunctions {
    /** Softplus table: nodes at SP_LO + j / SP_SCALE; outside it the direct form. */
    private static final double SP_LO = -20, SP_HI = 20, SP_SCALE = 16, SP_H = 1 / SP_SCALE;
    /** Per node: softplus(v), sigmoid(v). */
    private static final double[] SP = new double[2 * ((int) ((SP_HI - SP_LO) * SP_SCALE) + 1)];
    /** Phi table on [-PHI_R, PHI_R] (beyond it Phi is within 7e-16 of 0 or 1), nodes PHI_H apart. */
    private static final double PHI_R = 8, PHI_SCALE = 64, PHI_H = 1 / PHI_SCALE;
    /** Per node: Phi(z), PHI_H * phi(z). */
    private static final double[] PHI = new double[2 * ((int) (2 * PHI_R * PHI_SCALE) + 1)];

    static {
        double[] f = new double[1], s = new double[1];
        for (int j = 0; j < SP.length / 2; j++) {
            NoisyTopKGating.softplus(SP_LO + j * SP_H, 0, f, s, 0);
            SP[2 * j] = f[0];
            SP[2 * j + 1] = s[0];
        }
        for (int j = 0; j < PHI.length / 2; j++) {
            double z = -PHI_R + j * PHI_H;
            PHI[2 * j] = NormalDistribution.cdf(z);
            PHI[2 * j + 1] = PHI_H * NormalDistribution.density(z);
        }
    }

    private FloatGateFunctions() {
    }

    /**
     * sigma = softplus(v) + {@link NoisyTopKGating#NOISE_EPSILON} into {@code sg[i]} and softplus'(v) = sigmoid(v)
     * into {@code sm[i]}. Absolute error below 2e-10 in each (so below 2e-8 of sigma, which is at least 0.01).
     */
    static void softplus(double v, double[] sg, double[] sm, int i) {
        double u = (v - SP_LO) * SP_SCALE;
        if (!(u >= 0 && u < SP.length / 2 - 1)) {  // outside the table, or NaN
            NoisyTopKGating.softplus(v, NoisyTopKGating.NOISE_EPSILON, sg, sm, i);
            return;
        }
        int j = (int) u;
        double t = u - j;
        int q = 2 * j;
        double f0 = SP[q], s0 = SP[q + 1], f1 = SP[q + 2], s1 = SP[q + 3];
        sg[i] = hermite(t, f0, f1, SP_H * s0, SP_H * s1) + NoisyTopKGating.NOISE_EPSILON;
        sm[i] = hermite(t, s0, s1, SP_H * s0 * (1 - s0), SP_H * s1 * (1 - s1));
    }

    /**
     * Phi(z): absolute error below 1e-10, relative 1e-8 where Phi is above 1e-3 and 1e-7 where above 1e-7 (below that
     * a row's Phi does not reach float's resolution of a load, which sums them over rows).
     */
    static double cdf(double z) {
        double u = (z + PHI_R) * PHI_SCALE;
        if (!(u > 0)) return u == u ? 0.0 : Double.NaN;
        if (u >= PHI.length / 2 - 1) return 1.0;
        int j = (int) u;
        int q = 2 * j;
        return hermite(u - j, PHI[q], PHI[q + 2], PHI[q + 1], PHI[q + 3]);
    }

    /** phi(z), from the Phi table's nodes (phi' = -z phi): absolute error below 2e-10, 0 beyond |z| = 8 (phi(8) = 5e-15). */
    static double density(double z) {
        double u = (z + PHI_R) * PHI_SCALE;
        if (!(u > 0 && u < PHI.length / 2 - 1)) return u == u ? 0.0 : Double.NaN;
        int j = (int) u;
        int q = 2 * j;
        double z0 = -PHI_R + j * PHI_H;
        double d0 = PHI[q + 1], d1 = PHI[q + 3];  // PHI_H phi at the nodes
        return hermite(u - j, d0, d1, -PHI_H * z0 * d0, -PHI_H * (z0 + PHI_H) * d1) * PHI_SCALE;
    }

    /** The cubic Hermite interpolant at t in [0, 1) between values f0, f1 with slopes (times the node spacing) d0, d1. */
    private static double hermite(double t, double f0, double f1, double d0, double d1) {
        double t2 = t * t, t3 = t2 * t;
        return f0 + (f1 - f0) * (3 * t2 - 2 * t3) + d0 * (t3 - 2 * t2 + t) + d1 * (t3 - t2);
    }
}
