package org.sparkmoe.engine;

import java.util.List;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.Parameters;

/**
 * Where the experts' parameters and optimiser state live between steps: the strategy for one
 * {@link ExpertPlacement}. {@link DriverExperts} keeps them on the driver and broadcasts them each
 * step; {@link ShardedExperts} keeps them in an RDD of {@link ExpertShard}s that never leaves the
 * executors. The step pipelines ({@link ShufflePipeline}, {@link LocalPipeline}) ask it for the
 * experts and hand it the gradients.
 */
interface ExpertStore extends AutoCloseable {

    /** Called before a step's jobs are built. */
    void beginStep();

    /** Each shard's experts run forward on the rows dispatched to it (partition i = shard i). */
    JavaRDD<ShardStep> forward(StepContext ctx, JavaPairRDD<Integer, ShuffleBlock> dispatched, StageClock clock);

    /**
     * Every expert's parameters for every one of {@code partitions} data partitions, for local
     * routing, without a job of its own: either the step's broadcast of the driver's copy
     * ({@link StepBroadcast#experts()}; {@code blocks} null), or blocks keyed by data partition (one
     * {@link ShuffleBlock} per expert, its parameters as the flat vector) that travel in the step's
     * statistics shuffle.
     */
    LocalCopies localCopies(int partitions);

    /** Exactly one of the two is set. */
    record LocalCopies(Broadcast<Parameters[]> broadcast, JavaPairRDD<Integer, ShuffleBlock> blocks) {
    }

    /**
     * The optimiser applied to every expert with its gradient times {@code scale}: the step's second
     * job. {@code grads} holds one element per shard (partition i = shard i).
     */
    void update(JavaRDD<ExpertGrads> grads, double scale, long step, double learningRate);

    /** Called after the step; {@code stepBroadcasts} are the step's own broadcasts, which the store may keep for lineage. */
    void endStep(List<Broadcast<?>> stepBroadcasts);

    /**
     * The RDDs the store keeps between steps whose lineage a recomputation may still read (the
     * state, a lineage root held in cache): the step's shuffles they cannot reach are released
     * after the step ({@link ShuffleRelease}). Empty when the experts are not in an RDD.
     */
    List<JavaRDD<?>> lineage();

    /** All experts' parameters and optimiser states, by expert index (gathered to the driver). */
    Gathered gather();

    /** Parameters and optimiser states by expert index. */
    record Gathered(Parameters[] params, OptimiserState[] states) {
    }

    @Override
    void close();
}
