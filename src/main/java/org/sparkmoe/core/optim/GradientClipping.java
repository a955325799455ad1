package org.sparkmoe.core.optim;

import org.sparkmoe.core.param.Parameters;

/**
 * Global-norm gradient clipping (Pascanu et al. 2013; TensorFlow's {@code clip_by_global_norm}):
 * when the L2 norm of all gradients together exceeds {@code maxNorm}, every gradient is scaled by
 * {@code maxNorm / norm}, which keeps the update direction. "All together" spans parameter groups:
 * the shared parameters and every expert.
 */
public final class GradientClipping {
    private GradientClipping() {
    }

    /**
     * Clips {@code grads} in place to a global norm of at most {@code maxNorm} and returns the norm
     * before clipping. A non-finite norm (NaN or infinite gradients) is returned with the gradients
     * left untouched, so the caller can detect it and skip the step.
     */
    public static double clip(double maxNorm, Parameters... grads) {
        checkMaxNorm(maxNorm);
        double sumOfSquares = 0;
        for (Parameters g : grads) sumOfSquares += g.flat().sumOfSquares();
        double norm = Math.sqrt(sumOfSquares);
        if (!Double.isFinite(norm)) {
            return norm;
        }
        double s = scaleFor(maxNorm, sumOfSquares);
        if (s < 1) {
            for (Parameters g : grads) g.flat().scale(s);
        }
        return norm;
    }

    /**
     * The factor to multiply every gradient by, given the sum of squares of all of them (added up
     * by the caller, e.g. across executors): {@code min(1, maxNorm / sqrt(sumOfSquares))}. Returns
     * NaN when {@code sumOfSquares} is not finite: there is no sensible scale then.
     */
    public static double scaleFor(double maxNorm, double sumOfSquares) {
        checkMaxNorm(maxNorm);
        if (sumOfSquares < 0) {
            throw new IllegalArgumentException("sum of squares must be >= 0, got " + sumOfSquares);
        }
        if (!Double.isFinite(sumOfSquares)) {
            return Double.NaN;
        }
        double norm = Math.sqrt(sumOfSquares);
        return norm > maxNorm ? maxNorm / norm : 1.0;
    }

    private static void checkMaxNorm(double maxNorm) {
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("maxNorm must be > 0, got " + maxNorm);
        }
    }
}
