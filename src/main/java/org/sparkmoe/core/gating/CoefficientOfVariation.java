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
        double[] mv = meanAndVariance(v, off, n);
        return mv[1] / (mv[0] * mv[0] + EPSILON);
    }

    /** out[outOff + i] += scale * d CV^2 / d v_i. */
    public static void addGradient(double[] v, int off, int n, double scale, double[] out, int outOff) {
        if (n <= 1 || scale == 0) {
            return;
        }
        double[] mv = meanAndVariance(v, off, n);
        double mean = mv[0], var = mv[1];
        double den = mean * mean + EPSILON;
        // d var/dv_i = 2 (v_i - mean) / n; d mean/dv_i = 1/n
        for (int i = 0; i < n; i++) {
            double dVar = 2.0 * (v[off + i] - mean) / n;
            double dDen = 2.0 * mean / n;
            out[outOff + i] += scale * (dVar * den - var * dDen) / (den * den);
        }
    }

    /** {mean, population variance} of v[off, off+n). */
    private static double[] meanAndVariance(double[] v, int off, int n) {
        double mean = 0;
        for (int i = 0; i < n; i++) mean += v[off + i];
        mean /= n;
        double var = 0;
        for (int i = 0; i < n; i++) {
            double d = v[off + i] - mean;
            var += d * d;
        }
        return new double[]{mean, var / n};
    }
}
