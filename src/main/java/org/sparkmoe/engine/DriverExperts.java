package org.sparkmoe.engine;

import java.util.Collections;
import java.util.List;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.sparkmoe.core.optim.Optimiser;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;

/**
 * {@link ExpertPlacement#DRIVER}: the experts and their optimiser state live on the driver. Each
 * step broadcasts them; their gradients are collected (with shuffle routing the step's second job;
 * with local routing they arrive in the step's aggregation, and there is no second job) and the
 * optimiser runs on the driver, in place. Simple and fine for small models; the driver's memory and the
 * broadcast grow with n, which {@link ShardedExperts} avoids.
 */
final class DriverExperts implements ExpertStore {
    private final JavaSparkContext sc;
    private final Optimiser optimiser;
    private final ParameterLayout layout;
    private final Parameters[] params;
    private final OptimiserState[] states;
    private Broadcast<Parameters[]> current;
    /** Where expert 0 is in {@link #current}: 1 when it leads with the shared group ({@link #beginStep(Parameters)}). */
    private int first;

    DriverExperts(JavaSparkContext sc, Optimiser optimiser, ParameterLayout layout, Parameters[] params, OptimiserState[] states) {
        this.sc = sc;
        this.optimiser = optimiser;
        this.layout = layout;
        this.params = params;
        this.states = states;
        if (params.length > 0) HeapRegionAdvice.check(params[0]);
    }

    Parameters[] params() {
        return params;
    }

    OptimiserState[] states() {
        return states;
    }

    @Override
    public void beginStep() {
        current = StepBroadcast.of(sc, params);
        first = 0;
    }

    /**
     * Starts a step with one broadcast for all its parameters, the shared group first and the experts
     * after it ({@link StepBroadcast}), instead of one for the experts and one for the shared group.
     */
    Broadcast<Parameters[]> beginStep(Parameters shared) {
        Parameters[] all = new Parameters[params.length + 1];
        all[0] = shared;
        System.arraycopy(params, 0, all, 1, params.length);
        current = StepBroadcast.of(sc, all);
        first = 1;
        return current;
    }

    @Override
    public JavaRDD<ShardStep> forward(StepContext ctx, JavaPairRDD<Integer, ShuffleBlock> dispatched, StageClock clock) {
        Broadcast<Parameters[]> b = current;
        int at = first;
        return dispatched.mapPartitionsWithIndex((s, it) -> {
            long t0 = System.nanoTime();
            ShardStep ss = ShardStep.forward(ctx, s, it, e -> b.value()[e + at]);
            clock.experts(t0);
            return Collections.singletonList(ss).iterator();
        }, true);
    }

    @Override
    public LocalCopies localCopies(int partitions) {
        return new LocalCopies(current, null);
    }

    @Override
    public void update(JavaRDD<ExpertGrads> grads, double scale, long step, double learningRate) {
        Parameters[] g = new Parameters[params.length];
        for (ExpertGrads eg : grads.collect()) {
            for (int i = 0; i < eg.experts().length; i++) g[eg.experts()[i]] = eg.grads()[i];
        }
        update(g, scale, step, learningRate);
    }

    /**
     * The optimiser applied on the driver to gradients already there (by expert index; null: no row
     * was routed to it): local routing brings them in the step's aggregation, so no job is needed.
     */
    void update(Parameters[] g, double scale, long step, double learningRate) {
        Parameters zeros = null;
        for (int e = 0; e < params.length; e++) {
            Parameters ge = g[e];
            if (ge == null) {
                if (zeros == null) zeros = layout.allocate(params[e].precision());
                ge = zeros;
            }
            // in place: nothing on the executors reads the driver's copy after the step
            optimiser.stepInto(params[e], states[e], ge, scale, params[e], states[e], step, learningRate);
        }
    }

    @Override
    public void endStep(List<Broadcast<?>> stepBroadcasts) {
        for (Broadcast<?> b : stepBroadcasts) if (b != current) b.destroy(false);
        current.destroy(false);
        current = null;
    }

    @Override
    public List<JavaRDD<?>> lineage() {
        return List.of();
    }

    @Override
    public Gathered gather() {
        return new Gathered(params, states);
    }

    @Override
    public void close() {
        // a step that failed before endStep left its parameters' broadcast (or local handoff, StepBroadcast.of) live
        if (current != null) current.destroy(false);
        current = null;
    }
}
