package org.sparkmoe.core.gating;

/**
 * The squared coefficient of variation used by both balancing losses:
 * CV(v)^2 = population variance(v) / (mean(v)^2 + 1e-10), as tensor2tensor's {@code cv_squared}.
 */
public final class CoefficientOfVariation {
    /** Keeps CV^2 finite for an all-zero vector. */
    public static final double EPSILON = 1e-10;

    private CoefficientOfVariation() {
    }

    public static double squared(double[] v, int off, int n) {
        if (n <= 1) {
            return 0;
        }
        double mean = 0;
        for (int i = 0; i < n; i++) mean += v[off + i];
        mean /= n;
        double var = 0;
        for (int i = 0; i < n; i++) {
            double d = v[off + i] - mean;
            var += d * d;
        }
        var /= n;
        return var / (mean * mean + EPSILON);
    }

    /** out[outOff + i] += scale * d CV^2 / d v_i. */
    public static void addGradient(double[] v, int off, int n, double scale, double[] out, int outOff) {
        if (n <= 1 || scale == 0) {
            return;
        }
        double mean = 0;
        for (int i = 0; i < n; i++) mean += v[off + i];
        mean /= n;
        double var = 0;
        for (int i = 0; i < n; i++) {
            double d = v[off + i] - mean;
            var += d * d;
        }
        var /= n;
        double den = mean * mean + EPSILON;
        // d var/dv_i = 2 (v_i - mean) / n; d mean/dv_i = 1/n
        for (int i = 0; i < n; i++) {
            double dVar = 2.0 * (v[off + i] - mean) / n;
            double dDen = 2.0 * mean / n;
            out[outOff + i] += scale * (dVar * den - var * dDen) / (den * den);
        }
    }
}
