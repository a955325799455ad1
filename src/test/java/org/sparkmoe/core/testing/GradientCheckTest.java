package org.sparkmoe.core.testing;

import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;
import org.sparkmoe.core.linalg.DoubleMatrix;

/**
 * The gradient check itself: it passes an exact gradient, and its allowance for the loss's rounding
 * ({@link GradientCheck#ROUNDOFF_ULPS}) does not let a wrong one through, large or tiny.
 */
class GradientCheckTest {
    /** L(w) = 4 + sum_i c_i w_i^3 / 3 (a loss of about 4, as a language model's), dL/dw_i = c_i w_i^2. */
    private static final double[] C = {1.0, -0.5, 2.0, 1e-6, 3e-7};

    private static DoubleMatrix weights() {
        return new DoubleMatrix(new double[]{0.3, -0.7, 0.45, 0.5, -0.8}, 0, 1, C.length);
    }

    private static DoubleSupplier loss(DoubleMatrix w) {
        return () -> {
            double l = 4;
            for (int i = 0; i < C.length; i++) l += C[i] * Math.pow(w.getFlat(i), 3) / 3;
            return l;
        };
    }

    private static DoubleMatrix exact(DoubleMatrix w) {
        DoubleMatrix g = new DoubleMatrix(1, C.length);
        for (int i = 0; i < C.length; i++) g.setFlat(i, C[i] * w.getFlat(i) * w.getFlat(i));
        return g;
    }

    @Test
    void passesTheExactGradientIncludingTinyElements() {
        DoubleMatrix w = weights();
        GradientCheck.check("exact", w, exact(w), loss(w), C.length);
    }

    @Test
    void failsAGradientOnePercentOff() {
        DoubleMatrix w = weights();
        DoubleMatrix g = exact(w);
        g.setFlat(2, g.getFlat(2) * 1.01);
        assertThrows(AssertionFailedError.class, () -> GradientCheck.check("off", w, g, loss(w), C.length));
    }

    @Test
    void failsATinyGradientReportedAsZeroOrDoubled() {
        for (double factor : new double[]{0, 2}) {
            DoubleMatrix w = weights();
            DoubleMatrix g = exact(w);
            g.setFlat(4, g.getFlat(4) * factor); // 1.9e-7: under ABS_FLOOR, compared absolutely
            assertThrows(AssertionFailedError.class, () -> GradientCheck.check("tiny", w, g, loss(w), C.length));
        }
    }
}
