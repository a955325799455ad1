package org.sparkmoe.core.gating;

/**
 * The standard normal CDF Phi and density phi to full double precision, for the smooth load
 * estimator P(x, i) (paper eq. 9). Phi comes from erfc: a positive-term series for |x| &lt; 3 (no
 * cancellation) and a Lentz-evaluated continued fraction beyond, both accurate to ~1e-15, so that
 * central-difference gradient checks of the load loss test our derivative, not an approximation.
 */
public final class NormalDistribution {
    private static final double INV_SQRT_2PI = 0.3989422804014327;
    private static final double INV_SQRT_PI = 0.5641895835477563;
    private static final double SQRT_2 = Math.sqrt(2.0);

    private NormalDistribution() {
    }

    /** phi(z). */
    public static double density(double z) {
        return INV_SQRT_2PI * Math.exp(-0.5 * z * z);
    }

    /** {@code Phi(z) = P(N(0,1) <= z)}. */
    public static double cdf(double z) {
        return 0.5 * erfc(-z / SQRT_2);
    }

    /** Complementary error function. */
    public static double erfc(double x) {
        if (x < 0) {
            return 2.0 - erfc(-x);
        }
        if (x < 3.0) {
            return 1.0 - erfSeries(x);
        }
        return erfcContinuedFraction(x);
    }

    /** erf(x) = 2/sqrt(pi) e^{-x^2} sum_n 2^n x^{2n+1} / (1*3*...*(2n+1)): all terms positive. */
    private static double erfSeries(double x) {
        double x2 = x * x;
        double term = x;
        double sum = x;
        for (int n = 1; n < 200; n++) {
            term *= 2.0 * x2 / (2 * n + 1);
            sum += term;
            if (term < 1e-17 * sum) {
                break;
            }
        }
        return 2.0 * INV_SQRT_PI * Math.exp(-x2) * sum;
    }

    /** erfc(x) = e^{-x^2}/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), modified Lentz. */
    private static double erfcContinuedFraction(double x) {
        double tiny = 1e-300;
        double f = x;
        double c = x;
        double d = 0;
        for (int n = 1; n < 500; n++) {
            double a = n * 0.5;
            d = x + a * d;
            d = d == 0 ? tiny : d;
            c = x + a / c;
            c = c == 0 ? tiny : c;
            d = 1.0 / d;
            double delta = c * d;
            f *= delta;
            if (Math.abs(delta - 1.0) < 1e-16) {
                break;
            }
        }
        return INV_SQRT_PI * Math.exp(-x * x) / f;
    }
}
