package org.sparkmoe.core.train;

import java.io.Serializable;

import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.optim.Adam;
import org.sparkmoe.core.optim.LearningRateSchedule;
import org.sparkmoe.core.optim.Optimiser;

/**
 * How parameters are updated: optimiser, learning-rate schedule, global-norm gradient clipping
 * (0 = off), the run's seed (initialisation and gating noise) and the arithmetic precision.
 */
public record TrainerConfig(Optimiser optimiser, LearningRateSchedule schedule, double clipNorm, long seed,
                            Precision precision) implements Serializable {
    public TrainerConfig {
        if (!(clipNorm >= 0) || Double.isInfinite(clipNorm)) {
            throw new IllegalArgumentException("clipNorm must be finite and >= 0 (0 disables clipping), got " + clipNorm);
        }
        if (optimiser == null || schedule == null || precision == null) {
            throw new IllegalArgumentException("optimiser, schedule and precision are required");
        }
    }

    /** Adam with the paper's warm-up then 1/sqrt(step) decay. */
    public static TrainerConfig paperDefaults(double learningRate, long warmupSteps, long seed) {
        return new TrainerConfig(new Adam(), LearningRateSchedule.warmupInverseSqrt(learningRate, warmupSteps), 1.0, seed,
                Precision.F32);
    }
}
