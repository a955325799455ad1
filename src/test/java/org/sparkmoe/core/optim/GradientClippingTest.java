package org.sparkmoe.core.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

class GradientClippingTest {

    static Parameters of(Precision precision, double... v) {
        Parameters p = ParameterLayout.builder().add("g", 1, v.length).build().allocate(precision);
        for (int i = 0; i < v.length; i++) p.flat().setFlat(i, v[i]);
        return p;
    }

    static double norm(Parameters... gs) {
        double s = 0;
        for (Parameters g : gs) s += g.flat().sumOfSquares();
        return Math.sqrt(s);
    }

    @Test
    void scalesAllGroupsTogetherToExactlyMaxNorm() {
        Parameters shared = of(Precision.F64, 3, 0);  // norm 3
        Parameters expert = of(Precision.F64, 0, 4, 0); // norm 4 -> global norm 5
        double pre = GradientClipping.clip(1.0, shared, expert);
        assertEquals(5.0, pre, 1e-15);
        assertEquals(1.0, norm(shared, expert), 1e-15);
        assertEquals(0.6, shared.flat().getFlat(0), 1e-15, "direction kept: every element scaled by 1/5");
        assertEquals(0.8, expert.flat().getFlat(1), 1e-15);
    }

    @Test
    void leavesSmallGradientsAlone() {
        Parameters a = of(Precision.F32, 0.3, -0.4);
        double pre = GradientClipping.clip(1.0, a);
        assertEquals(0.5, pre, 1e-7);
        assertEquals((double) 0.3f, a.flat().getFlat(0), 0.0);
        assertEquals((double) -0.4f, a.flat().getFlat(1), 0.0);
        Parameters exact = of(Precision.F64, 3, 4);
        GradientClipping.clip(5.0, exact);
        assertEquals(3.0, exact.flat().getFlat(0), 0.0, "a norm equal to maxNorm is not clipped");
    }

    @Test
    void scaleForMatchesClip() {
        assertEquals(1.0, GradientClipping.scaleFor(2.0, 3.0), 0.0);
        assertEquals(0.2, GradientClipping.scaleFor(1.0, 25.0), 1e-15);
        assertEquals(1.0, GradientClipping.scaleFor(1.0, 0.0), 0.0);
        assertTrue(Double.isNaN(GradientClipping.scaleFor(1.0, Double.POSITIVE_INFINITY)));
        assertThrows(IllegalArgumentException.class, () -> GradientClipping.scaleFor(0, 1));
        assertThrows(IllegalArgumentException.class, () -> GradientClipping.scaleFor(1, -1));
        assertThrows(IllegalArgumentException.class, () -> GradientClipping.clip(Double.NaN, of(Precision.F64, 1)));
    }

    @Test
    void nonFiniteNormIsReportedAndGradientsAreLeftAlone() {
        Parameters a = of(Precision.F64, Double.NaN, 1);
        assertTrue(Double.isNaN(GradientClipping.clip(1.0, a)));
        assertEquals(1.0, a.flat().getFlat(1), 0.0);
    }
}
