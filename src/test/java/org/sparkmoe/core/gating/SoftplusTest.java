package org.sparkmoe.core.gating;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

class SoftplusTest {

    /** The gate's log1p against the JDK's over [0, 1] at every scale down to 1e-300: within 4 ulps. */
    @Test
    void log1pAgreesWithTheJdkWithinAFewUlps() {
        SplittableRandom random = new SplittableRandom(9);
        double[] edges = {0, Double.MIN_VALUE, 1e-300, 1e-17, 1.1e-16, 2.3e-16, 1e-8, 0.5, 1};
        for (double x : edges) check(x);
        for (int i = 0; i < 200_000; i++) {
            check(random.nextDouble() * Math.pow(10, -random.nextInt(20)));
        }
    }

    private static void check(double x) {
        double want = Math.log1p(x);
        assertEquals(want, NoisyTopKGating.log1p(x), 4 * Math.ulp(want), "log1p(" + x + ")");
    }
}
