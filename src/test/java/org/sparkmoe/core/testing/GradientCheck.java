package org.sparkmoe.core.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * Central-difference gradient checks in double precision: (L(w + h) - L(w - h)) / 2h against the
 * analytic gradient, element by element (or a random sample of elements for large tensors).
 */
public final class GradientCheck {
    /** Relative error denominators never go below this, so near-zero gradients compare absolutely. */
    public static final double ABS_FLOOR = 1e-6;
    public static final double STEP = 1e-5;
    public static final double TOLERANCE = 1e-5;
    /**
     * The loss's rounding error, in units in the last place of its value, that a central difference
     * cannot see through: (L(w + h) - L(w - h)) / 2h carries about ulps · ulp(L) / 2h of it (3.6e-10 at
     * L = 4), which is more than ABS_FLOOR · TOLERANCE (1e-11), the absolute error the relative test
     * allows a gradient under ABS_FLOOR. That much of a difference is not counted against the analytic
     * gradient; at a gradient of 1e-3 it is 4e-7 of relative error, far under TOLERANCE.
     */
    public static final double ROUNDOFF_ULPS = 16;

    private GradientCheck() {
    }

    /** Checks every tensor of {@code params} against {@code analytic} (same layout). */
    public static double check(String what, Parameters params, Parameters analytic, DoubleSupplier loss, int maxPerTensor) {
        double worst = 0;
        ParameterLayout layout = params.layout();
        for (int t = 0; t < layout.entries().size(); t++) {
            String name = what + "." + layout.entries().get(t).name();
            worst = Math.max(worst, check(name, params.get(t), analytic.get(t), loss, maxPerTensor));
        }
        return worst;
    }

    /**
     * Checks one tensor {@code x} (perturbed in place, restored afterwards) against its analytic
     * gradient; fails with the worst element named. Returns the max relative error.
     */
    public static double check(String name, Matrix x, Matrix analytic, DoubleSupplier loss, int maxElements) {
        if (x.precision() != Precision.F64) {
            throw new IllegalArgumentException("gradient checks run in double precision, got " + x);
        }
        int n = x.size();
        SplittableRandom random = new SplittableRandom(name.hashCode());
        double worst = 0;
        int worstAt = -1;
        double worstA = 0, worstN = 0;
        int count = Math.min(n, maxElements);
        for (int s = 0; s < count; s++) {
            int i = count == n ? s : random.nextInt(n);
            double orig = x.getFlat(i);
            x.setFlat(i, orig + STEP);
            double plus = loss.getAsDouble();
            x.setFlat(i, orig - STEP);
            double minus = loss.getAsDouble();
            x.setFlat(i, orig);
            double numeric = (plus - minus) / (2 * STEP);
            double a = analytic.getFlat(i);
            double roundoff = ROUNDOFF_ULPS * Math.ulp(Math.max(Math.abs(plus), Math.abs(minus))) / (2 * STEP);
            double rel = Math.max(0, Math.abs(a - numeric) - roundoff) / Math.max(ABS_FLOOR, Math.max(Math.abs(a), Math.abs(numeric)));
            if (rel > worst) {
                worst = rel;
                worstAt = i;
                worstA = a;
                worstN = numeric;
            }
        }
        final double w = worst;
        final int at = worstAt;
        final double fa = worstA, fn = worstN;
        assertTrue(w <= TOLERANCE, () -> name + ": max relative error " + w + " at element " + at
                + " (analytic " + fa + ", numeric " + fn + ")");
        return worst;
    }

    /** True when the tensor has at least one element whose analytic gradient is non-negligible: guards against vacuous checks. */
    public static boolean hasSignal(Matrix analytic) {
        for (int i = 0; i < analytic.size(); i++) if (Math.abs(analytic.getFlat(i)) > 1e-8) return true;
        return false;
    }
}
