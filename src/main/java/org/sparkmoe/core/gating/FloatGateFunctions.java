package org.sparkmoe.core.gating;

/**
 * The gate's per-(row, expert) functions to float precision for the float32 hot path: softplus and its
 * derivative (the noise scale, eq. 4) and the normal CDF Phi and density phi (the load estimator, eq. 9, and
 * its gradient), by cubic Hermite interpolation in tables of exact values and exact derivatives, each
 * interval's cubic stored by its coefficients. A lookup is a few loads and three multiply-adds, against an
 * exp, a log and a division (softplus) or an exp and a division (Phi): these run for every pair, and in
 * float32 their own rounding is of the size of the tables' error. The float64 path keeps the exact forms, so
 * gradient checks test our derivatives.
 */
final class FloatGateFunctions {
    /** Softplus table: nodes at SP_LO + j / SP_SCALE; outside it the direct form. */
    private static final double SP_LO = -20, SP_HI = 20, SP_SCALE = 16, SP_H = 1 / SP_SCALE;
    private static final int SP_NODES = (int) ((SP_HI - SP_LO) * SP_SCALE) + 1;
    /**
     * Per interval between nodes: the Hermite cubics of softplus(v) and sigmoid(v) as polynomials in t, four
     * coefficients each (a cubic in power form is three multiply-adds; the Hermite form was about a dozen).
     */
    private static final double[] SP = new double[8 * (SP_NODES - 1)];
    /** Phi table on [-PHI_R, PHI_R] (beyond it Phi is within 7e-16 of 0 or 1), nodes PHI_H apart. */
    private static final double PHI_R = 8, PHI_SCALE = 64, PHI_H = 1 / PHI_SCALE;
    private static final int PHI_NODES = (int) (2 * PHI_R * PHI_SCALE) + 1;
    /** Per interval: the cubics of Phi(z) and phi(z) in t, four coefficients each. */
    private static final double[] PHI = new double[8 * (PHI_NODES - 1)];

    static {
        double[] f = new double[1], s = new double[1];
        double[] sp = new double[SP_NODES], sm = new double[SP_NODES];
        for (int j = 0; j < SP_NODES; j++) {
            NoisyTopKGating.softplus(SP_LO + j * SP_H, 0, f, s, 0);
            sp[j] = f[0];
            sm[j] = s[0];
        }
        for (int j = 0; j < SP_NODES - 1; j++) {
            // slopes times the node spacing: softplus' = sigmoid, sigmoid' = sigmoid (1 - sigmoid)
            cubic(sp[j], sp[j + 1], SP_H * sm[j], SP_H * sm[j + 1], SP, 8 * j);
            cubic(sm[j], sm[j + 1], SP_H * sm[j] * (1 - sm[j]), SP_H * sm[j + 1] * (1 - sm[j + 1]), SP, 8 * j + 4);
        }
        double[] cdf = new double[PHI_NODES], pdf = new double[PHI_NODES];
        for (int j = 0; j < PHI_NODES; j++) {
            double z = -PHI_R + j * PHI_H;
            cdf[j] = NormalDistribution.cdf(z);
            pdf[j] = NormalDistribution.density(z);
        }
        for (int j = 0; j < PHI_NODES - 1; j++) {
            double z0 = -PHI_R + j * PHI_H, z1 = z0 + PHI_H;
            // Phi' = phi, phi' = -z phi
            cubic(cdf[j], cdf[j + 1], PHI_H * pdf[j], PHI_H * pdf[j + 1], PHI, 8 * j);
            cubic(pdf[j], pdf[j + 1], -PHI_H * z0 * pdf[j], -PHI_H * z1 * pdf[j + 1], PHI, 8 * j + 4);
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
        if (!(u >= 0 && u < SP_NODES - 1)) {  // outside the table, or NaN
            NoisyTopKGating.softplus(v, NoisyTopKGating.NOISE_EPSILON, sg, sm, i);
            return;
        }
        int j = (int) u;
        double t = u - j;
        int q = 8 * j;
        sg[i] = poly(SP, q, t) + NoisyTopKGating.NOISE_EPSILON;
        sm[i] = poly(SP, q + 4, t);
    }

    /**
     * {@link #softplus} of {@code v[o + i]} into {@code sg[i]}, {@code sm[i]} for i in [0, count): the same values.
     * One loop over a block's pairs with no call in it (a value outside the table is redone by the direct form
     * afterwards, alone): inside the gate's row loop, among its many live values, the same lookups cost twice as much.
     */
    static void softplusAll(float[] v, int o, int count, double[] sg, double[] sm) {
        boolean outside = false;
        for (int i = 0; i < count; i++) {
            double u = (v[o + i] - SP_LO) * SP_SCALE;
            boolean in = u >= 0 && u < SP_NODES - 1;
            outside |= !in;
            int q = in ? 8 * (int) u : 0;  // outside the table or NaN: any interval, redone below
            double t = u - (q >> 3);
            sg[i] = poly(SP, q, t) + NoisyTopKGating.NOISE_EPSILON;
            sm[i] = poly(SP, q + 4, t);
        }
        if (outside) {
            // only the values outside the table: at n = 256 one logit beyond +-20 would otherwise redo a block of a
            // million pairs
            for (int i = 0; i < count; i++) {
                double u = (v[o + i] - SP_LO) * SP_SCALE;
                if (!(u >= 0 && u < SP_NODES - 1)) NoisyTopKGating.softplus(v[o + i], NoisyTopKGating.NOISE_EPSILON, sg, sm, i);
            }
        }
    }

    /**
     * Phi(z): absolute error below 1e-10, relative 1e-8 where Phi is above 1e-3 and 1e-7 where above 1e-7 (below that
     * a row's Phi does not reach float's resolution of a load, which sums them over rows).
     */
    static double cdf(double z) {
        double u = (z + PHI_R) * PHI_SCALE;
        if (!(u > 0)) return u == u ? 0.0 : Double.NaN;
        if (u >= PHI_NODES - 1) return 1.0;
        int j = (int) u;
        return poly(PHI, 8 * j, u - j);
    }

    /**
     * {@link #cdf}(z), and {@link #density}(z) times {@code scale} into {@code w[wi]}: both cubics from the same
     * interval (one cache line), the same values as the two calls.
     */
    static double cdfAndDensity(double z, double scale, double[] w, int wi) {
        double u = (z + PHI_R) * PHI_SCALE;
        if (!(u > 0 && u < PHI_NODES - 1)) {
            w[wi] = density(z) * scale;
            return cdf(z);
        }
        int j = (int) u;
        double t = u - j;
        w[wi] = poly(PHI, 8 * j + 4, t) * scale;
        return poly(PHI, 8 * j, t);
    }

    /** phi(z) (Hermite in the same nodes, phi' = -z phi): absolute error below 2e-10, 0 beyond |z| = 8 (phi(8) = 5e-15). */
    static double density(double z) {
        double u = (z + PHI_R) * PHI_SCALE;
        if (!(u > 0 && u < PHI_NODES - 1)) return u == u ? 0.0 : Double.NaN;
        int j = (int) u;
        return poly(PHI, 8 * j + 4, u - j);
    }

    /**
     * {@code c[o, o + 4)} = the cubic Hermite interpolant between values f0, f1 with slopes (times the node spacing)
     * d0, d1, in powers of t in [0, 1): f0 + d0 t + (3 (f1 - f0) - 2 d0 - d1) t^2 + (d0 + d1 - 2 (f1 - f0)) t^3.
     */
    private static void cubic(double f0, double f1, double d0, double d1, double[] c, int o) {
        double df = f1 - f0;
        c[o] = f0;
        c[o + 1] = d0;
        c[o + 2] = 3 * df - 2 * d0 - d1;
        c[o + 3] = d0 + d1 - 2 * df;
    }

    /** The cubic {@code c[o, o + 4)} at t, by Horner: exactly c[o] at a node. */
    private static double poly(double[] c, int o, double t) {
        return ((c[o + 3] * t + c[o + 2]) * t + c[o + 1]) * t + c[o];
    }
}
