package org.sparkmoe.core.synthetic;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SpecialisationMetricTest {
    @Test
    void independentIsZero() {
        // outer product of marginals: expert independent of domain
        double[] pd = {0.2, 0.3, 0.5}, pe = {0.1, 0.4, 0.25, 0.25};
        double[][] c = new double[3][4];
        for (int d = 0; d < 3; d++) for (int e = 0; e < 4; e++) c[d][e] = 1000 * pd[d] * pe[e];
        SpecialisationMetric m = SpecialisationMetric.of(c);
        assertEquals(0, m.nmi(), 1e-12);
        assertEquals(0, m.uncertaintyCoefficient(), 1e-12);
        assertEquals(0.4, m.domainPurity(1), 1e-12);
    }

    @Test
    void permutationIsOne() {
        long[][] c = new long[4][4];
        int[] perm = {2, 0, 3, 1};
        for (int d = 0; d < 4; d++) c[d][perm[d]] = 10 + d;
        SpecialisationMetric m = SpecialisationMetric.of(c);
        assertEquals(1, m.nmi(), 1e-12);
        assertEquals(1, m.uncertaintyCoefficient(), 1e-12);
        for (int d = 0; d < 4; d++) assertEquals(1, m.domainPurity(d), 0);
        assertEquals(1, m.meanDomainPurity(), 0);
    }

    @Test
    void domainSplitOverExpertsHasFullUncertaintyCoefficientButNmiBelowOne() {
        double[][] c = {{5, 5, 0, 0}, {0, 0, 5, 5}};
        SpecialisationMetric m = SpecialisationMetric.of(c);
        assertEquals(1, m.uncertaintyCoefficient(), 1e-12);
        assertEquals(Math.log(2) / ((Math.log(2) + Math.log(4)) / 2), m.nmi(), 1e-12);
        assertEquals(0.5, m.domainPurity(0), 0);
        assertEquals(1, m.expertPurity(3), 0);
        assertTrue(m.toString().contains("nmi="));
    }

    @Test
    void rejectsBadInput() {
        assertThrows(IllegalArgumentException.class, () -> SpecialisationMetric.of(new double[][] {{0, 0}}));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SpecialisationMetric.of(new double[][] {{1, 2}, {1}}));
        assertTrue(e.getMessage().contains("row 1"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> SpecialisationMetric.of(new double[][] {{1, -2}}));
        assertTrue(e.getMessage().contains("counts[0][1]"), e.getMessage());
    }
}
