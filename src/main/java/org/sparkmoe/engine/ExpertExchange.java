package org.sparkmoe.engine;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.network.DenseProjection;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.network.SoftmaxCrossEntropyHead;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.engine.checkpoint.CheckpointStore;

import scala.Tuple2;

/**
 * The expert half of a step for step drivers outside this package (the recurrent language model's,
 * {@code org.sparkmoe.engine.sequence}): the experts of one MoE layer in the placement's
 * {@link ExpertStore}. With {@link RoutingMode#SHUFFLE} they run forward on the blocks the data
 * partitions dispatch and backward on their gate-weighted output gradients exactly as
 * {@link ShufflePipeline} runs them ({@link ShardStep}); with {@link RoutingMode#LOCAL} they are
 * broadcast to the data partitions and the partitions' expert gradients summed as
 * {@link LocalPipeline} sums them. Either way the optimiser updates them where they live. The data
 * side (what is below and above the MoE, and which routing) is the caller's.
 */
public final class ExpertExchange implements AutoCloseable {
    private final JavaSparkContext sc;
    private final EngineConfig config;
    /** The experts' view of the model: the expert side reads only {@code moe()} of a network. */
    private final MoENetwork carrier;
    private final ExpertPartitioner partitioner;
    private final ExpertStore store;
    private final StageClock clock;
    /** This exchange's key in the executors' {@link ExpertPool}. */
    private final String run = java.util.UUID.randomUUID().toString();

    private ExpertExchange(JavaSparkContext sc, MoELayer moe, EngineConfig config, java.util.function.Function<ExpertExchange, ExpertStore> store) {
        org.sparkmoe.engine.serde.SerializerAdvice.check(sc.getConf());
        int d = moe.expert().dim();
        this.sc = sc;
        this.config = config;
        this.carrier = new MoENetwork(new DenseProjection(d, d), moe, new SoftmaxCrossEntropyHead(d, 2));
        this.partitioner = new ExpertPartitioner(moe.numExperts(), config.expertShards());
        this.clock = new StageClock(sc);
        this.store = store.apply(this);
    }

    /**
     * Experts starting from {@code params} and {@code states} (by expert index) held on the driver:
     * kept there (DRIVER placement) or sent to their shards (SHARDED; sent again to recompute a lost
     * shard until the first lineage checkpoint, so they must not change until then).
     */
    public static ExpertExchange of(JavaSparkContext sc, MoELayer moe, EngineConfig config, Parameters[] params, OptimiserState[] states) {
        return new ExpertExchange(sc, moe, config, x -> config.placement() == ExpertPlacement.DRIVER
                ? new DriverExperts(sc, config.trainer().optimiser(), moe.expert().layout(), params, states)
                : x.sharded(x.distribute(params, states), null));
    }

    /**
     * Fresh experts (as {@link MoENetwork#initialise} draws them from the trainer's seed), initialised
     * where they live: on the driver (DRIVER) or on their shards (SHARDED).
     */
    public static ExpertExchange fresh(JavaSparkContext sc, MoELayer moe, EngineConfig config) {
        if (config.placement() == ExpertPlacement.DRIVER) {
            Parameters[] p = new Parameters[moe.numExperts()];
            OptimiserState[] o = new OptimiserState[p.length];
            for (int e = 0; e < p.length; e++) {
                p[e] = moe.expert().initialise(config.trainer().precision(),
                        new java.util.SplittableRandom(MoENetwork.expertSeed(config.trainer().seed(), e)));
                o[e] = config.trainer().optimiser().newState(p[e]);
            }
            return of(sc, moe, config, p, o);
        }
        return new ExpertExchange(sc, moe, config, x -> {
            MoENetwork net = x.carrier;
            var t = config.trainer();
            ExpertPartitioner ep = x.partitioner;
            return x.sharded(x.shardIds().map(s -> ExpertShard.initialise(net, t.optimiser(), t.precision(), t.seed(), ep, s)), null);
        });
    }

    /**
     * SHARDED experts read from a checkpoint's shard files on the executors (the checkpoint must have
     * {@code config.expertShards()} shards).
     */
    public static ExpertExchange fromCheckpoint(JavaSparkContext sc, MoELayer moe, EngineConfig config, CheckpointStore checkpoints,
                                                org.sparkmoe.engine.checkpoint.CheckpointMeta meta) {
        if (config.placement() != ExpertPlacement.SHARDED || meta.numExpertShards() != config.expertShards()) {
            throw new IllegalArgumentException("experts are read on the executors only for SHARDED placement with the checkpoint's "
                    + meta.numExpertShards() + " shards");
        }
        var layout = moe.expert().layout();
        Runnable release;
        try {
            release = checkpoints.hold(meta.step()); // read again after a lost executor, until the first lineage checkpoint
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return new ExpertExchange(sc, moe, config, x -> x.sharded(x.shardIds().map(s -> {
            CheckpointStore.ShardData d = checkpoints.loadExpertShard(meta, s, layout);
            return new ExpertShard(d.shard(), d.expertIds(), d.params(), d.states());
        }), release));
    }

    /** Every state this exchange starts from is recomputable from its lineage (seed, files, the driver's copies). */
    private ShardedExperts sharded(JavaRDD<ExpertShard> state, Runnable rootReleased) {
        return new ShardedExperts(sc, config.trainer().optimiser(), carrier.numExperts(), config.lineageCheckpointInterval(), run, state,
                ShardedExperts.Root.RECOMPUTABLE, rootReleased);
    }

    private JavaRDD<ExpertShard> distribute(Parameters[] params, OptimiserState[] states) {
        List<ExpertShard> shards = new ArrayList<>();
        for (int s = 0; s < config.expertShards(); s++) {
            int first = partitioner.firstExpert(s);
            int[] ids = new int[partitioner.firstExpert(s + 1) - first];
            for (int i = 0; i < ids.length; i++) ids[i] = first + i;
            shards.add(new ExpertShard(s, ids, java.util.Arrays.copyOfRange(params, first, first + ids.length),
                    java.util.Arrays.copyOfRange(states, first, first + ids.length)));
        }
        return sc.parallelize(shards, config.expertShards());
    }

    private JavaRDD<Integer> shardIds() {
        List<Integer> ids = new ArrayList<>();
        for (int s = 0; s < config.expertShards(); s++) ids.add(s);
        return sc.parallelize(ids, config.expertShards());
    }

    public ExpertPartitioner partitioner() {
        return partitioner;
    }

    /** Starts the expert side of step {@code step}; gate noise does not reach the experts. */
    public Step begin(long step) {
        clock.reset();
        store.beginStep();
        var t = config.trainer();
        return new Step(new StepContext(carrier, t.precision(), t.seed(), step, null, config.shufflePayload(), run));
    }

    /** One step's expert stages, built lazily into the caller's job. */
    public final class Step {
        private final StepContext ctx;
        private final List<JavaRDD<?>> persisted = new ArrayList<>();
        private JavaRDD<ShardStep> shards;
        private JavaRDD<ExpertGrads> grads;

        private Step(StepContext ctx) {
            this.ctx = ctx;
        }

        /**
         * Experts forward on {@code dispatched} ((expert, block of one data partition's rows for it)
         * pairs); returns each expert's outputs cut back into the blocks they came from, keyed by data
         * partition.
         */
        public JavaPairRDD<Integer, ShuffleBlock> forward(JavaPairRDD<Integer, ShuffleBlock> dispatched) {
            StepContext c = ctx;
            shards = ShufflePipeline.persist(store.forward(c, Shuffles.partitionBy(dispatched, partitioner), clock),
                    "spark-moe experts forward", persisted);
            boolean bf16 = c.payload() == ShufflePayload.BF16;
            return shards.flatMapToPair(ss -> ss.outputBlocks(bf16).iterator());
        }

        /**
         * Experts backward on {@code gradients} ((expert, gate-weighted dL/dy block) pairs, one per
         * forward block); parameter gradients stay on the shards; returns dL/dx blocks keyed by data
         * partition.
         */
        public JavaPairRDD<Integer, ShuffleBlock> backward(JavaPairRDD<Integer, ShuffleBlock> gradients) {
            StepContext c = ctx;
            StageClock cl = clock;
            JavaRDD<Tuple2<ExpertGrads, List<Tuple2<Integer, ShuffleBlock>>>> back = ShufflePipeline.persist(
                    shards.zipPartitions(Shuffles.partitionBy(gradients, partitioner), (sit, bit) -> {
                        long t0 = System.nanoTime();
                        Tuple2<ExpertGrads, List<Tuple2<Integer, ShuffleBlock>>> r = sit.next().backward(c, bit);
                        cl.experts(t0);
                        return Collections.singletonList(r).iterator();
                    }), "spark-moe experts backward", persisted);
            grads = back.map(Tuple2::_1);
            return back.flatMapToPair(r -> r._2().iterator());
        }

        /**
         * {@link RoutingMode#LOCAL}: every expert's parameters of this step, broadcast, for the data
         * partitions to run the experts on their own rows (DRIVER placement only).
         */
        public Broadcast<Parameters[]> localExperts(int partitions) {
            Broadcast<Parameters[]> b = store.localCopies(partitions).broadcast();
            if (b == null) throw new IllegalStateException("local routing needs the experts on the driver (DRIVER placement)");
            return b;
        }

        /**
         * {@link RoutingMode#LOCAL}: the data partitions' expert gradients ((expert, one partition's
         * gradient of it) pairs) summed per expert on the expert shards, partitions in order, as
         * {@link LocalPipeline} sums them; {@link #sumsOfSquares}, {@link #gradients} and
         * {@link #update} then read these sums.
         */
        public void localGradients(JavaPairRDD<Integer, ShuffleBlock> perPartition) {
            MoENetwork net = carrier;
            grads = ShufflePipeline.persist(Shuffles.partitionBy(perPartition, partitioner)
                    .mapPartitionsWithIndex((s, it) -> Collections.singletonList(LocalPipeline.sumByExpert(net, s, it)).iterator(), true),
                    "spark-moe expert gradients", persisted);
        }

        /** (shard, sum of squares of its experts' gradients), one per shard in shard order, for the global clipping norm. */
        public JavaPairRDD<Integer, Double> sumsOfSquares() {
            return grads.mapToPair(g -> new Tuple2<>(g.shard(), g.sumOfSquares()));
        }

        /** Every expert's gradient by expert index (zeros for experts that got no rows); gathers them (tests). */
        public Parameters[] gradients() {
            Parameters[] g = new Parameters[carrier.numExperts()];
            for (ExpertGrads eg : grads.collect()) {
                for (int i = 0; i < eg.experts().length; i++) g[eg.experts()[i]] = eg.grads()[i].copy();
            }
            for (int e = 0; e < g.length; e++) {
                if (g[e] == null) g[e] = carrier.moe().expert().layout().allocate(config.trainer().precision());
            }
            return g;
        }

        /** The optimiser on every expert with its gradient times {@code scale}: a job of its own. */
        public void update(double scale, double learningRate) {
            store.update(grads, scale, ctx.step(), learningRate);
        }

        /** Releases the step's persisted stages; {@code stepBroadcasts} are the caller's broadcasts of the step. */
        public void end(List<Broadcast<?>> stepBroadcasts) {
            for (JavaRDD<?> r : persisted) r.unpersist(false);
            store.endStep(stepBroadcasts);
        }
    }

    /**
     * The RDDs the experts keep between steps ({@link ExpertStore#lineage}: none on the driver); a
     * caller that releases its shuffles ({@link ShuffleRelease}) keeps those these reach.
     */
    public List<JavaRDD<?>> lineage() {
        return store.lineage();
    }

    /** The experts' task time of the last step in milliseconds, under the StepMetrics keys. */
    public Map<String, Double> stageMillis() {
        return clock.millis();
    }

    /** All experts' parameters and optimiser states by expert index (gathered to the driver for SHARDED). */
    public Experts gather() {
        ExpertStore.Gathered g = store.gather();
        return new Experts(g.params(), g.states());
    }

    /** Parameters and optimiser states by expert index. */
    public record Experts(Parameters[] params, OptimiserState[] states) {
    }

    /**
     * Writes the experts into a pending checkpoint: from the driver (DRIVER) or by the executors that
     * hold them (SHARDED), shard by shard as {@link ExpertPartitioner} places them.
     */
    public void writeTo(CheckpointStore.Pending pending) throws java.io.IOException {
        if (store instanceof ShardedExperts se) {
            se.state().foreach(sh -> {
                try {
                    pending.writeExpertShard(sh.shard, sh.experts, sh.params, sh.states);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            return;
        }
        Experts all = gather();
        for (int s = 0; s < config.expertShards(); s++) {
            int first = partitioner.firstExpert(s);
            int[] ids = new int[partitioner.firstExpert(s + 1) - first];
            for (int i = 0; i < ids.length; i++) ids[i] = first + i;
            pending.writeExpertShard(s, ids, java.util.Arrays.copyOfRange(all.params(), first, first + ids.length),
                    java.util.Arrays.copyOfRange(all.states(), first, first + ids.length));
        }
    }

    @Override
    public void close() {
        store.close();
        ExpertPool.release(run); // in local mode; elsewhere the executors drop the run's buffers when idle
    }
}
