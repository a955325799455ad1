package org.sparkmoe.core.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class LearningRateScheduleTest {

    @Test
    void constantIsConstant() {
        LearningRateSchedule s = LearningRateSchedule.constant(0.3);
        assertEquals(0.3, s.rate(1), 0.0);
        assertEquals(0.3, s.rate(1_000_000), 0.0);
    }

    @Test
    void warmupRampsLinearlyPeaksAtWarmupThenDecaysAsInverseSqrt() {
        LearningRateSchedule s = LearningRateSchedule.warmupInverseSqrt(2.0, 100);
        assertEquals(0.02, s.rate(1), 1e-15);
        assertEquals(1.0, s.rate(50), 1e-15);
        assertEquals(1.98, s.rate(99), 1e-15);
        assertEquals(2.0, s.rate(100), 1e-15, "peak at warmupSteps");
        assertEquals(1.0, s.rate(400), 1e-15, "sqrt(100/400) = 1/2");
        assertEquals(0.2, s.rate(10_000), 1e-15, "sqrt(100/10000) = 1/10");
        assertEquals(s.rate(900) / s.rate(3600), 2.0, 1e-12, "quadrupling t halves the rate");
        for (long t = 1; t < 100; t++) assertTrue(s.rate(t) < s.rate(t + 1), "rising at " + t);
        for (long t = 100; t < 500; t++) assertTrue(s.rate(t) > s.rate(t + 1), "falling at " + t);
    }

    @Test
    void validatesArguments() {
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.constant(0));
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.constant(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.warmupInverseSqrt(1, 0));
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.warmupInverseSqrt(1, 10).rate(0));
    }
}
