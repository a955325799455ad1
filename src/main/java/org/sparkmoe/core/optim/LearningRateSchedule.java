package org.sparkmoe.core.optim;

/**
 * The learning rate as a function of the 1-based step number.
 */
public sealed interface LearningRateSchedule extends java.io.Serializable permits LearningRateSchedule.Constant, LearningRateSchedule.WarmupInverseSqrt {

    /** The learning rate for step {@code step} (>= 1). */
    double rate(long step);

    /** {@code base} at every step. */
    static LearningRateSchedule constant(double base) {
        return new Constant(base);
    }

    /** The paper's schedule; see {@link WarmupInverseSqrt}. */
    static LearningRateSchedule warmupInverseSqrt(double base, long warmupSteps) {
        return new WarmupInverseSqrt(base, warmupSteps);
    }

    /** A constant rate. */
    record Constant(double base) implements LearningRateSchedule {
        public Constant {
            checkBase(base);
        }

        @Override
        public double rate(long step) {
            checkStep(step);
            return base;
        }
    }

    /**
     * Shazeer et al. 2017 (appendix, training of the language models; the same shape as the
     * Transformer's schedule): the rate rises linearly for the first {@code warmupSteps} steps and
     * then falls proportionally to the inverse square root of the step number,
     * {@code lr(t) = base * min(t / warmup, sqrt(warmup / t))}, peaking at {@code base} when
     * {@code t = warmup}. The paper uses 1000 warm-up steps.
     */
    record WarmupInverseSqrt(double base, long warmupSteps) implements LearningRateSchedule {
        public WarmupInverseSqrt {
            checkBase(base);
            if (warmupSteps < 1) {
                throw new IllegalArgumentException("warmupSteps must be >= 1, got " + warmupSteps);
            }
        }

        @Override
        public double rate(long step) {
            checkStep(step);
            double t = step;
            double w = warmupSteps;
            return base * Math.min(t / w, Math.sqrt(w / t));
        }
    }

    private static void checkBase(double base) {
        if (!(base > 0) || Double.isInfinite(base)) {
            throw new IllegalArgumentException("base learning rate must be finite and > 0, got " + base);
        }
    }

    private static void checkStep(long step) {
        if (step < 1) {
            throw new IllegalArgumentException("step counts from 1, got " + step);
        }
    }
}
