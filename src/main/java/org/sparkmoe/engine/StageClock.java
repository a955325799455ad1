package org.sparkmoe.engine;

import java.io.Serializable;
import java.util.LinkedHashMap;
import java.util.Map;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.util.LongAccumulator;
import org.sparkmoe.engine.metrics.StepMetrics;

/**
 * Task time per phase of a step. A step is one Spark job whose stages overlap (a stage's tasks
 * start as soon as their shuffle inputs are ready), so the driver sees no wall time per phase;
 * each task adds the nanoseconds it spent in its part of the step to an accumulator instead. The
 * result is task time summed over the tasks (on several cores at once, so it can exceed the step's
 * wall time, reported as {@link StepMetrics#STEP_JOB}); recomputed tasks count again. Only for
 * reporting: nothing depends on it.
 */
final class StageClock implements Serializable {
    private static final long serialVersionUID = 1L;
    private final LongAccumulator gate;
    private final LongAccumulator dispatch;
    private final LongAccumulator experts;
    private final LongAccumulator combine;

    StageClock(JavaSparkContext sc) {
        this.gate = sc.sc().longAccumulator("spark-moe gate ns");
        this.dispatch = sc.sc().longAccumulator("spark-moe dispatch ns");
        this.experts = sc.sc().longAccumulator("spark-moe experts ns");
        this.combine = sc.sc().longAccumulator("spark-moe combine ns");
    }

    void reset() {
        gate.reset();
        dispatch.reset();
        experts.reset();
        combine.reset();
    }

    void gate(long since) {
        gate.add(System.nanoTime() - since);
    }

    void dispatch(long since) {
        dispatch.add(System.nanoTime() - since);
    }

    void experts(long since) {
        experts.add(System.nanoTime() - since);
    }

    void combine(long since) {
        combine.add(System.nanoTime() - since);
    }

    /** The executor stages' task time in milliseconds, under the {@link StepMetrics} keys. */
    Map<String, Double> millis() {
        Map<String, Double> m = new LinkedHashMap<>();
        m.put(StepMetrics.GATE, gate.value() / 1e6);
        m.put(StepMetrics.DISPATCH, dispatch.value() / 1e6);
        m.put(StepMetrics.EXPERTS, experts.value() / 1e6);
        m.put(StepMetrics.COMBINE, combine.value() / 1e6);
        return m;
    }
}
