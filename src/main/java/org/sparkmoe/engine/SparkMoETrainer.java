package org.sparkmoe.engine;

import org.sparkmoe.core.network.RowBlock;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparkmoe.core.gating.BalanceResult;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.Batch;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.optim.GradientClipping;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.train.ReferenceTrainer;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.checkpoint.CheckpointMeta;
import org.sparkmoe.engine.checkpoint.CheckpointStore;
import org.sparkmoe.engine.metrics.StepMetrics;

import scala.Tuple2;

/**
 * Data-parallel MoE training on Spark (docs/DESIGN.md section 7). Per step:
 * <ol>
 * <li>gate: each data partition selects its rows of the mini-batch, runs the input layer and the
 * gate, and keeps its state; the partial Importance/Load statistics are summed on the driver
 * (CV is never taken per partition) and the balance-loss gradient is broadcast back;</li>
 * <li>dispatch + experts: (partition, expert) row blocks are shuffled to expert shards by
 * {@link ExpertPartitioner}; each expert runs once on all of its rows from all partitions;</li>
 * <li>combine: outputs are shuffled back to the tokens' partitions; y, loss, dL/dy, the gating
 * backward pass; gate-weighted dL/dy blocks go back to the experts for their backward pass;</li>
 * <li>aggregate: dL/dx blocks return to the partitions for the input-layer backward pass, and
 * the shared-parameter gradient and losses are summed at the driver in a fixed order;</li>
 * <li>optimiser: global-norm clipping over all groups, then the update: on the driver for shared
 * parameters and driver-placed experts, on the executors for sharded experts.</li>
 * </ol>
 * Every stage is a deterministic function of the step number, the parameters and the data (the
 * gating noise is counter-based), and every reduction runs in a fixed order, so a step's result does
 * not depend on task timing, and partitions lost with an executor are recomputed identically.
 */
public final class SparkMoETrainer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SparkMoETrainer.class);
    private static final int DIRECT_SUM_LIMIT = 32;

    private final JavaSparkContext sc;
    private final MoENetwork network;
    private final EngineConfig config;
    private final TrainerConfig trainer;
    private final JavaRDD<RowBlock> data;
    private final int partitions;
    private final BatchPlan plan;
    private final ExpertPartitioner expertPartitioner;
    private final DataPartitioner dataPartitioner;

    private Parameters shared;
    private OptimiserState sharedOptimiser;
    private Parameters[] experts;              // DRIVER placement
    private OptimiserState[] expertOptimisers; // DRIVER placement
    private JavaRDD<ExpertShard> expertState;  // SHARDED placement
    private final List<Broadcast<?>> lineageBroadcasts = new ArrayList<>();
    private long step;
    private ModelParameters lastGradient;

    /**
     * @param data cached or cacheable row blocks; persisted here (MEMORY_AND_DISK) if not already
     */
    public SparkMoETrainer(JavaSparkContext sc, MoENetwork network, EngineConfig config, JavaRDD<RowBlock> data) {
        this(sc, network, config, data, (Object) null);
    }

    /** Resumes from {@code initial} (parameters, optimiser state, step) held on the driver. */
    public SparkMoETrainer(JavaSparkContext sc, MoENetwork network, EngineConfig config, JavaRDD<RowBlock> data,
                           TrainingState initial) {
        this(sc, network, config, data, (Object) initial);
    }

    /**
     * Resumes sharded training without gathering the experts on the driver: {@code shards} builds
     * the expert-state RDD (one {@link ExpertShard} per partition, in shard order), e.g. by reading
     * checkpoint shard files on the executors.
     */
    SparkMoETrainer(JavaSparkContext sc, MoENetwork network, EngineConfig config, JavaRDD<RowBlock> data,
                    ShardedStart start) {
        this(sc, network, config, data, (Object) start);
    }

    /** Where a sharded run resumes from. */
    record ShardedStart(Parameters shared, OptimiserState sharedOptimiser, long step,
                        java.util.function.Function<SparkMoETrainer, JavaRDD<ExpertShard>> shards) {
    }

    private SparkMoETrainer(JavaSparkContext sc, MoENetwork network, EngineConfig config, JavaRDD<RowBlock> data,
                            Object initial) {
        this.sc = sc;
        this.network = network;
        this.config = config;
        this.trainer = config.trainer();
        if (data.getStorageLevel().equals(StorageLevel.NONE())) {
            data = data.persist(StorageLevel.MEMORY_AND_DISK());
        }
        this.data = data;
        this.partitions = data.getNumPartitions();
        List<Long> sizes = data.mapPartitions(it -> {
            long n = 0;
            while (it.hasNext()) n += it.next().size();
            return Collections.singletonList(n).iterator();
        }).collect();
        long[] s = new long[sizes.size()];
        for (int i = 0; i < s.length; i++) s[i] = sizes.get(i);
        this.plan = new BatchPlan(trainer.seed(), config.batchSize(), s);
        this.expertPartitioner = new ExpertPartitioner(network.numExperts(), config.expertShards());
        this.dataPartitioner = new DataPartitioner(partitions);
        if (initial instanceof ShardedStart ss) {
            this.shared = ss.shared;
            this.sharedOptimiser = ss.sharedOptimiser;
            this.step = ss.step;
            this.expertState = ss.shards.apply(this).persist(StorageLevel.MEMORY_AND_DISK());
            logStart();
            return;
        }
        TrainingState start = (TrainingState) initial;
        if (start == null && config.placement() == ExpertPlacement.DRIVER) {
            start = ReferenceTrainer.initialState(network, trainer);
        }
        if (start != null) {
            this.shared = start.params().shared();
            this.sharedOptimiser = start.sharedOptimiser();
            this.step = start.step();
            if (config.placement() == ExpertPlacement.DRIVER) {
                this.experts = start.params().experts();
                this.expertOptimisers = start.expertOptimisers();
            } else {
                this.expertState = distribute(start);
            }
        } else {
            this.shared = network.initialiseShared(trainer.precision(), trainer.seed());
            this.sharedOptimiser = trainer.optimiser().newState(shared);
            this.step = 0;
            this.expertState = initialiseShards();
        }
        logStart();
    }

    private void logStart() {
        LOG.info("spark-moe engine: {} data partitions, {} examples, batch {}, {} experts on {} shards, routing {}, placement {}",
                partitions, plan.stepsPerEpoch() * config.batchSize(), config.batchSize(), network.numExperts(),
                config.expertShards(), config.routing(), config.placement());
    }

    private JavaRDD<ExpertShard> initialiseShards() {
        MoENetwork net = network;
        TrainerConfig t = trainer;
        ExpertPartitioner ep = expertPartitioner;
        return shardIds().map(s -> ExpertShard.initialise(net, t.optimiser(), t.precision(), t.seed(), ep, s))
                .persist(StorageLevel.MEMORY_AND_DISK());
    }

    private JavaRDD<ExpertShard> distribute(TrainingState st) {
        List<ExpertShard> shards = new ArrayList<>();
        for (int s = 0; s < config.expertShards(); s++) {
            int first = expertPartitioner.firstExpert(s);
            int last = expertPartitioner.firstExpert(s + 1);
            int[] ids = new int[last - first];
            Parameters[] p = new Parameters[ids.length];
            OptimiserState[] o = new OptimiserState[ids.length];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = first + i;
                p[i] = st.params().experts()[first + i];
                o[i] = st.expertOptimisers()[first + i];
            }
            shards.add(new ExpertShard(s, ids, p, o));
        }
        return sc.parallelize(shards, config.expertShards()).persist(StorageLevel.MEMORY_AND_DISK());
    }

    private JavaRDD<Integer> shardIds() {
        List<Integer> ids = new ArrayList<>();
        for (int s = 0; s < config.expertShards(); s++) ids.add(s);
        return sc.parallelize(ids, config.expertShards());
    }

    /** Steps taken so far. */
    public long stepsTaken() {
        return step;
    }

    public BatchPlan plan() {
        return plan;
    }

    public MoENetwork network() {
        return network;
    }

    /** The gradient of the last step (before clipping), when {@link EngineConfig#keepGradients()}. */
    public ModelParameters lastGradient() {
        return lastGradient;
    }

    /** One training step. */
    public StepReport trainStep() {
        long t = step + 1;
        long start = System.nanoTime();
        Map<String, Double> timings = new LinkedHashMap<>();
        StepContext ctx = new StepContext(network, trainer.precision(), trainer.seed(), t, plan);
        sc.setJobGroup("spark-moe-step-" + t, "spark-moe step " + t + ": gate", false);
        Broadcast<Parameters> sharedB = sc.broadcast(shared);

        // 1. gate
        JavaRDD<PartitionStep> parts = data.mapPartitionsWithIndex(
                (p, it) -> Collections.singletonList(PartitionStep.gate(ctx, sharedB.value(), p, it)).iterator(), true)
                .persist(StorageLevel.MEMORY_ONLY());
        List<Tuple2<double[], int[]>> partial = parts.map(ps -> new Tuple2<>(ps.stats, ps.expertCounts())).collect();
        double[] stats = new double[network.moe().gating().statsSize()];
        int[] rowsPerExpert = new int[network.numExperts()];
        for (Tuple2<double[], int[]> pr : partial) {
            for (int i = 0; i < stats.length; i++) stats[i] += pr._1()[i];
            for (int e = 0; e < rowsPerExpert.length; e++) rowsPerExpert[e] += pr._2()[e];
        }
        BalanceResult balance = network.moe().balance(stats);
        Broadcast<double[]> statsGradB = sc.broadcast(balance.statsGradient());
        long tGate = System.nanoTime();
        timings.put(StepMetrics.GATE, ms(start, tGate));

        Broadcast<Parameters[]> expertsB = null;
        if (config.routing() == RoutingMode.LOCAL || config.placement() == ExpertPlacement.DRIVER) {
            expertsB = sc.broadcast(config.placement() == ExpertPlacement.DRIVER ? experts : gatherExperts().params());
        }
        List<Object> toUnpersist = new ArrayList<>();
        toUnpersist.add(parts);
        JavaRDD<PartitionResult> results;
        JavaRDD<ExpertGrads> expertGrads;
        if (config.routing() == RoutingMode.SHUFFLE) {
            Tuple2<JavaRDD<PartitionResult>, JavaRDD<ExpertGrads>> r = shuffleStep(ctx, parts, sharedB, statsGradB, expertsB, timings, toUnpersist);
            results = r._1();
            expertGrads = r._2();
        } else {
            Tuple2<JavaRDD<PartitionResult>, JavaRDD<ExpertGrads>> r = localStep(ctx, parts, sharedB, statsGradB, expertsB, timings, toUnpersist);
            results = r._1();
            expertGrads = r._2();
        }

        // aggregate
        long tAgg = System.nanoTime();
        sc.setJobGroup("spark-moe-step-" + t, "spark-moe step " + t + ": aggregate", false);
        PartitionResult total = sumInPartitionOrder(results);
        // sharded experts' gradients stay on their shards: only their sums of squares travel
        boolean gather = config.placement() == ExpertPlacement.DRIVER || config.keepGradients();
        List<ExpertGrads> shardGrads = gather ? expertGrads.collect() : List.of();  // partition (= shard) order
        double sumSq = total.sharedGrad().flat().sumOfSquares();
        if (gather) {
            for (ExpertGrads g : shardGrads) sumSq += g.sumOfSquares();
        } else {
            for (double sq : expertGrads.map(ExpertGrads::sumOfSquares).collect()) sumSq += sq;
        }
        double norm = Math.sqrt(sumSq);
        long tOpt = System.nanoTime();
        timings.put(StepMetrics.AGGREGATE, ms(tAgg, tOpt));

        // optimiser
        sc.setJobGroup("spark-moe-step-" + t, "spark-moe step " + t + ": optimiser", false);
        double lr = trainer.schedule().rate(t);
        if (config.keepGradients()) lastGradient = gradientOf(total.sharedGrad(), shardGrads);
        if (config.placement() == ExpertPlacement.DRIVER) {
            Parameters[] grads = expertGradArray(shardGrads);
            TrainingState st = new TrainingState(new ModelParameters(shared, experts), sharedOptimiser, expertOptimisers, step);
            ReferenceTrainer.applyUpdate(trainer, st, new ModelParameters(total.sharedGrad(), grads), norm, t);
        } else {
            double scale = trainer.clipNorm() > 0 ? GradientClipping.scaleFor(trainer.clipNorm(), sumSq) : 1.0;
            Parameters g = total.sharedGrad();
            if (scale != 1.0) g.flat().scale(scale);
            trainer.optimiser().step(shared, g, sharedOptimiser, t, lr);
            updateShards(expertGrads, scale, t, lr);
        }
        long end = System.nanoTime();
        timings.put(StepMetrics.OPTIMISER, ms(tOpt, end));

        for (Object o : toUnpersist) {
            if (o instanceof JavaPairRDD<?, ?> pair) pair.unpersist(false);
            else ((JavaRDD<?>) o).unpersist(false);
        }
        if (config.placement() == ExpertPlacement.SHARDED) {
            // the new expert state's lineage reaches back into this step until the next checkpoint
            lineageBroadcasts.add(sharedB);
            lineageBroadcasts.add(statsGradB);
            if (expertsB != null) lineageBroadcasts.add(expertsB);
        } else {
            sharedB.destroy(false);
            statsGradB.destroy(false);
            if (expertsB != null) expertsB.destroy(false);
        }
        sc.clearJobGroup();
        step = t;

        int[] batchRange = expertBatchRange(partial, rowsPerExpert);
        double mean = meanNonZero(config.routing() == RoutingMode.SHUFFLE ? rowsPerExpert : allCounts(partial));
        return new StepReport(t, total.examples(), total.lossSum() / config.batchSize(), balance, rowsPerExpert,
                batchRange[0], batchRange[1], mean, norm, lr, (end - start) / 1e9, timings);
    }

    private Tuple2<JavaRDD<PartitionResult>, JavaRDD<ExpertGrads>> shuffleStep(StepContext ctx, JavaRDD<PartitionStep> parts,
            Broadcast<Parameters> sharedB, Broadcast<double[]> statsGradB, Broadcast<Parameters[]> expertsB,
            Map<String, Double> timings, List<Object> toUnpersist) {
        long t0 = System.nanoTime();
        String group = "spark-moe-step-" + ctx.step();
        sc.setJobGroup(group, "spark-moe step " + ctx.step() + ": dispatch", false);
        JavaPairRDD<Integer, ShuffleBlock> dispatched = parts
                .flatMapToPair(ps -> ps.dispatch().stream().map(b -> new Tuple2<>(b.expert(), b)).iterator())
                .partitionBy(expertPartitioner)
                .persist(StorageLevel.MEMORY_ONLY());
        toUnpersist.add(dispatched);
        dispatched.count();
        long tDispatch = System.nanoTime();
        timings.put(StepMetrics.DISPATCH, ms(t0, tDispatch));

        sc.setJobGroup(group, "spark-moe step " + ctx.step() + ": experts", false);
        JavaRDD<ShardStep> shards;
        if (config.placement() == ExpertPlacement.DRIVER) {
            shards = dispatched.mapPartitionsWithIndex(
                    (s, it) -> Collections.singletonList(ShardStep.forward(ctx, s, it, e -> expertsB.value()[e])).iterator(), true);
        } else {
            shards = dispatched.zipPartitions(expertState, (it, st) -> {
                ExpertShard es = st.next();
                return Collections.singletonList(ShardStep.forward(ctx, es.shard, it, es::params)).iterator();
            });
        }
        shards = shards.persist(StorageLevel.MEMORY_ONLY());
        toUnpersist.add(shards);
        shards.count();
        long t1 = System.nanoTime();
        double expertsForward = ms(tDispatch, t1);

        sc.setJobGroup(group, "spark-moe step " + ctx.step() + ": combine", false);
        JavaPairRDD<Integer, ShuffleBlock> outputs = shards.flatMapToPair(ss -> ss.outputBlocks().iterator()).partitionBy(dataPartitioner);
        JavaRDD<PartitionStep.Combined> combined = parts.zipPartitions(outputs, (pit, bit) -> Collections.singletonList(
                pit.next().combine(ctx, sharedB.value(), statsGradB.value(), values(bit))).iterator())
                .persist(StorageLevel.MEMORY_ONLY());
        toUnpersist.add(combined);
        combined.count();
        long t2 = System.nanoTime();
        timings.put(StepMetrics.COMBINE, ms(t1, t2));

        sc.setJobGroup(group, "spark-moe step " + ctx.step() + ": expert backward", false);
        JavaPairRDD<Integer, ShuffleBlock> backward = combined
                .flatMapToPair(c -> c.backward.stream().map(b -> new Tuple2<>(b.expert(), b)).iterator())
                .partitionBy(expertPartitioner);
        JavaRDD<Tuple2<ExpertGrads, List<Tuple2<Integer, ShuffleBlock>>>> shardBack = shards.zipPartitions(backward,
                (sit, bit) -> Collections.singletonList(sit.next().backward(ctx, bit)).iterator())
                .persist(StorageLevel.MEMORY_ONLY());
        toUnpersist.add(shardBack);
        shardBack.count();
        long t3 = System.nanoTime();
        timings.put(StepMetrics.EXPERTS, expertsForward + ms(t2, t3));

        JavaPairRDD<Integer, ShuffleBlock> inputGrads = shardBack.flatMapToPair(r -> r._2().iterator()).partitionBy(dataPartitioner);
        JavaRDD<PartitionResult> results = combined.zipPartitions(inputGrads,
                (cit, bit) -> Collections.singletonList(cit.next().finish(ctx, sharedB.value(), values(bit))).iterator());
        return new Tuple2<>(results, shardBack.map(Tuple2::_1));
    }

    private Tuple2<JavaRDD<PartitionResult>, JavaRDD<ExpertGrads>> localStep(StepContext ctx, JavaRDD<PartitionStep> parts,
            Broadcast<Parameters> sharedB, Broadcast<double[]> statsGradB, Broadcast<Parameters[]> expertsB,
            Map<String, Double> timings, List<Object> toUnpersist) {
        long t0 = System.nanoTime();
        sc.setJobGroup("spark-moe-step-" + ctx.step(), "spark-moe step " + ctx.step() + ": local experts", false);
        MoENetwork net = network;
        JavaRDD<Tuple2<PartitionResult, List<ShuffleBlock>>> local = parts.map(ps -> {
            Parameters[] all = expertsB.value();
            ModelParameters params = new ModelParameters(sharedB.value(), all);
            Parameters[] eg = new Parameters[all.length];
            int[] counts = ps.expertCounts();
            for (int e = 0; e < eg.length; e++) if (counts[e] > 0) eg[e] = all[e].zerosLike();
            ModelParameters grad = new ModelParameters(sharedB.value().zerosLike(), eg);
            double loss = 0;
            if (ps.batch.size() > 0) {
                loss = net.forwardBackwardPart(params, ps.batch, ctx.noise(), net.newWorkspace(ctx.precision()), grad,
                        ctx.lossScale(), statsGradB.value());
            }
            List<ShuffleBlock> parts2 = new ArrayList<>();
            for (int e = 0; e < eg.length; e++) if (eg[e] != null) parts2.add(new ShuffleBlock(ps.partition, e, eg[e].flat()));
            return new Tuple2<>(new PartitionResult(ps.partition, grad.shared(), loss, ps.batch.size()), parts2);
        }).persist(StorageLevel.MEMORY_ONLY());
        toUnpersist.add(local);
        local.count();
        timings.put(StepMetrics.DISPATCH, 0.0);
        timings.put(StepMetrics.EXPERTS, ms(t0, System.nanoTime()));
        timings.put(StepMetrics.COMBINE, 0.0);
        ExpertPartitioner ep = expertPartitioner;
        JavaRDD<ExpertGrads> expertGrads = local
                .flatMapToPair(r -> r._2().stream().map(b -> new Tuple2<>(b.expert(), b)).iterator())
                .partitionBy(ep)
                .mapPartitionsWithIndex((s, it) -> Collections.singletonList(sumByExpert(net, s, it)).iterator(), true)
                .persist(StorageLevel.MEMORY_ONLY());
        toUnpersist.add(expertGrads);
        return new Tuple2<>(local.map(Tuple2::_1), expertGrads);
    }

    /** Per-partition expert gradients summed per expert, partitions in order. */
    private static ExpertGrads sumByExpert(MoENetwork net, int shard, Iterator<Tuple2<Integer, ShuffleBlock>> it) {
        List<ShuffleBlock> all = new ArrayList<>();
        it.forEachRemaining(t -> all.add(t._2()));
        all.sort(java.util.Comparator.comparingInt(ShuffleBlock::expert).thenComparingInt(ShuffleBlock::partition));
        List<Integer> ids = new ArrayList<>();
        List<Parameters> grads = new ArrayList<>();
        for (ShuffleBlock b : all) {
            if (ids.isEmpty() || ids.get(ids.size() - 1) != b.expert()) {
                ids.add(b.expert());
                grads.add(net.moe().expert().layout().allocate(b.rows().precision()));
            }
            grads.get(grads.size() - 1).flat().axpy(1, b.rows());
        }
        return new ExpertGrads(shard, ids.stream().mapToInt(Integer::intValue).toArray(), grads.toArray(new Parameters[0]));
    }

    private void updateShards(JavaRDD<ExpertGrads> grads, double scale, long t, double lr) {
        TrainerConfig tc = trainer;
        JavaRDD<ExpertShard> next = expertState.zipPartitions(grads, (sit, git) -> {
            ExpertShard s = sit.next();
            ExpertGrads g = git.hasNext() ? git.next() : null;
            return Collections.singletonList(s.update(tc.optimiser(), g, scale, t, lr)).iterator();
        }).persist(StorageLevel.MEMORY_AND_DISK());
        if (t % config.lineageCheckpointInterval() == 0) {
            if (sc.getCheckpointDir().isPresent()) {
                next.checkpoint();
            } else {
                next.rdd().localCheckpoint();
            }
        }
        next.count();
        expertState.unpersist(false);
        expertState = next;
        if (t % config.lineageCheckpointInterval() == 0) {
            for (Broadcast<?> b : lineageBroadcasts) b.destroy(false);
            lineageBroadcasts.clear();
        }
    }

    private static <T> Iterator<ShuffleBlock> values(Iterator<Tuple2<Integer, ShuffleBlock>> it) {
        return new Iterator<>() {
            @Override
            public boolean hasNext() {
                return it.hasNext();
            }

            @Override
            public ShuffleBlock next() {
                return it.next()._2();
            }
        };
    }

    /**
     * Shared gradients and losses summed in partition order (Spark's aggregate merges in task
     * completion order, which would make float sums, and so training, depend on timing). Up to
     * {@value #DIRECT_SUM_LIMIT} partitions are summed on the driver; more go through one level of
     * fixed-order partial sums on the executors first.
     */
    private PartitionResult sumInPartitionOrder(JavaRDD<PartitionResult> results) {
        List<PartitionResult> parts;
        if (partitions <= DIRECT_SUM_LIMIT) {
            parts = results.collect();
        } else {
            int groupSize = (int) Math.ceil(Math.sqrt(partitions));
            int groups = (partitions + groupSize - 1) / groupSize;
            parts = results.mapToPair(r -> new Tuple2<>(r.partition() / groupSize, r))
                    .partitionBy(new DataPartitioner(groups))
                    .mapPartitions(it -> {
                        List<PartitionResult> l = new ArrayList<>();
                        it.forEachRemaining(t -> l.add(t._2()));
                        l.sort(java.util.Comparator.comparingInt(PartitionResult::partition));
                        return Collections.singletonList(sumSequential(l)).iterator();
                    }).collect();
        }
        return sumSequential(parts);
    }

    private static PartitionResult sumSequential(List<PartitionResult> parts) {
        Parameters sum = null;
        double loss = 0;
        int examples = 0;
        int first = Integer.MAX_VALUE;
        for (PartitionResult r : parts) {
            if (sum == null) sum = r.sharedGrad().copy();
            else sum.flat().axpy(1, r.sharedGrad().flat());
            loss += r.lossSum();
            examples += r.examples();
            first = Math.min(first, r.partition());
        }
        return new PartitionResult(first, sum, loss, examples);
    }

    private Parameters[] expertGradArray(List<ExpertGrads> shardGrads) {
        Parameters[] grads = new Parameters[network.numExperts()];
        for (ExpertGrads g : shardGrads) {
            for (int i = 0; i < g.experts().length; i++) grads[g.experts()[i]] = g.grads()[i];
        }
        for (int e = 0; e < grads.length; e++) {
            if (grads[e] == null) grads[e] = network.moe().expert().layout().allocate(trainer.precision());
        }
        return grads;
    }

    private ModelParameters gradientOf(Parameters sharedGrad, List<ExpertGrads> shardGrads) {
        Parameters[] e = expertGradArray(shardGrads);
        for (int i = 0; i < e.length; i++) e[i] = e[i].copy();
        return new ModelParameters(sharedGrad.copy(), e);
    }

    private int[] expertBatchRange(List<Tuple2<double[], int[]>> partial, int[] rowsPerExpert) {
        int[] counts = config.routing() == RoutingMode.SHUFFLE ? rowsPerExpert : allCounts(partial);
        int min = Integer.MAX_VALUE, max = 0;
        for (int c : counts) {
            if (c == 0) continue;
            min = Math.min(min, c);
            max = Math.max(max, c);
        }
        return new int[]{min == Integer.MAX_VALUE ? 0 : min, max};
    }

    private static int[] allCounts(List<Tuple2<double[], int[]>> partial) {
        int n = partial.isEmpty() ? 0 : partial.get(0)._2().length;
        int[] all = new int[partial.size() * n];
        for (int p = 0; p < partial.size(); p++) System.arraycopy(partial.get(p)._2(), 0, all, p * n, n);
        return all;
    }

    private static double meanNonZero(int[] counts) {
        long sum = 0;
        int k = 0;
        for (int c : counts) {
            if (c > 0) {
                sum += c;
                k++;
            }
        }
        return k == 0 ? 0 : (double) sum / k;
    }

    private static double ms(long from, long to) {
        return (to - from) / 1e6;
    }

    /** The batch a step uses, gathered in partition order (for tests and inspection; collects it). */
    public Batch batchForStep(long t) {
        StepContext ctx = new StepContext(network, trainer.precision(), trainer.seed(), t, plan);
        List<RowBlock> blocks = data.mapPartitionsWithIndex((p, it) -> {
            Batch b = PartitionStep.selectBatch(ctx, p, it);
            return b.size() == 0 ? Collections.<RowBlock>emptyIterator() : Collections.singletonList(RowBlock.of(b)).iterator();
        }, true).collect();
        RowBlock[] arr = blocks.toArray(new RowBlock[0]);
        int total = 0;
        for (RowBlock b : arr) total += b.size();
        int[] block = new int[total];
        int[] row = new int[total];
        int at = 0;
        for (int b = 0; b < arr.length; b++) {
            for (int r = 0; r < arr[b].size(); r++) {
                block[at] = b;
                row[at++] = r;
            }
        }
        return RowBlock.select(arr, block, row, 0, total, trainer.precision());
    }

    /**
     * Writes a checkpoint of the current state (parameters, optimiser state, step; the data position
     * follows from the step). Sharded experts are written by the executors that hold them; the
     * checkpoint becomes visible only once complete.
     */
    public CheckpointMeta checkpoint(CheckpointStore store, Map<String, String> provenance) throws java.io.IOException {
        long done = step;
        CheckpointMeta meta = CheckpointMeta.of(done, done / plan.stepsPerEpoch(), done % plan.stepsPerEpoch(),
                trainer.precision(), network.numExperts(), config.expertShards(), network.sharedLayout(),
                network.moe().expert().layout(), provenance);
        sc.setJobGroup("spark-moe-checkpoint-" + done, "spark-moe checkpoint at step " + done, false);
        try {
            if (config.placement() == ExpertPlacement.DRIVER) {
                store.save(new TrainingState(new ModelParameters(shared, experts), sharedOptimiser, expertOptimisers, done), meta);
                return meta;
            }
            CheckpointStore.Pending pending = store.begin(done);
            try {
                pending.writeShared(shared, sharedOptimiser);
                expertState.foreach(sh -> {
                    try {
                        pending.writeExpertShard(sh.shard, sh.experts, sh.params, sh.states);
                    } catch (java.io.IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
                pending.commit(meta);
            } catch (java.io.IOException | RuntimeException e) {
                try {
                    pending.abort();
                } catch (java.io.IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
                throw e;
            }
            return meta;
        } finally {
            sc.clearJobGroup();
        }
    }

    /**
     * A trainer that continues from the latest checkpoint in {@code store}, or starts fresh when
     * there is none. The checkpoint must match the network (expert count, layouts) and precision;
     * sharded experts are read on the executors when the shard count is unchanged.
     */
    public static SparkMoETrainer resume(JavaSparkContext sc, MoENetwork network, EngineConfig config,
                                         JavaRDD<RowBlock> data, CheckpointStore store) throws java.io.IOException {
        java.util.Optional<CheckpointMeta> latest = store.latest();
        if (latest.isEmpty()) {
            return new SparkMoETrainer(sc, network, config, data);
        }
        CheckpointMeta meta = latest.get();
        String where = "checkpoint " + store.dir() + "/" + CheckpointStore.stepDirName(meta.step());
        if (meta.numExperts() != network.numExperts()) {
            throw new IllegalArgumentException(where + " has " + meta.numExperts() + " experts, the model has " + network.numExperts());
        }
        if (meta.precision() != config.trainer().precision()) {
            throw new IllegalArgumentException(where + " was written in " + meta.precision() + ", the run uses "
                    + config.trainer().precision());
        }
        org.sparkmoe.core.param.ParameterLayout expertLayout = network.moe().expert().layout();
        if (config.placement() == ExpertPlacement.SHARDED && meta.numExpertShards() == config.expertShards()) {
            CheckpointStore.SharedData sd = store.loadShared(meta);
            if (!sd.params().layout().equals(network.sharedLayout())) {
                throw new IllegalArgumentException(where + ": shared parameters " + sd.params().layout()
                        + " do not match the model's " + network.sharedLayout());
            }
            ShardedStart start = new ShardedStart(sd.params(), sd.state(), meta.step(), t -> t.shardIds().map(s -> {
                CheckpointStore.ShardData d = store.loadExpertShard(meta, s, expertLayout);
                return new ExpertShard(d.shard(), d.expertIds(), d.params(), d.states());
            }));
            LOG.info("resuming sharded training from {}", where);
            return new SparkMoETrainer(sc, network, config, data, start);
        }
        TrainingState st = store.loadTrainingState(meta.step(), network.sharedLayout(), expertLayout);
        LOG.info("resuming from {}", where);
        return new SparkMoETrainer(sc, network, config, data, st);
    }

    /**
     * Starts training (step 0, fresh optimiser state) from parameters whose experts are already on
     * the executors: {@code experts} holds (expert index, parameters) pairs, and partition i must hold
     * exactly the experts of shard i of {@code experts.getNumPartitions()} contiguous shards (an
     * {@link ExpertPartitioner} layout). With {@link ExpertPlacement#SHARDED} placement the experts
     * never reach the driver (re-sharded by a shuffle only when the shard count differs); with DRIVER
     * placement they are collected. Used for warm starts from a distributed model.
     */
    public static SparkMoETrainer warmStart(JavaSparkContext sc, MoENetwork network, EngineConfig config, JavaRDD<RowBlock> data,
                                            Parameters shared, JavaPairRDD<Integer, Parameters> experts) {
        TrainerConfig t = config.trainer();
        Parameters start = shared.to(t.precision());
        if (config.placement() == ExpertPlacement.DRIVER) {
            Parameters[] p = new Parameters[network.numExperts()];
            for (Tuple2<Integer, Parameters> e : experts.collect()) p[e._1()] = e._2().to(t.precision());
            for (int e = 0; e < p.length; e++) {
                if (p[e] == null) throw new IllegalArgumentException("warm start: expert " + e + " is missing");
            }
            OptimiserState[] states = new OptimiserState[p.length];
            for (int e = 0; e < p.length; e++) states[e] = t.optimiser().newState(p[e]);
            return new SparkMoETrainer(sc, network, config, data,
                    new TrainingState(new ModelParameters(start, p), t.optimiser().newState(start), states, 0));
        }
        int n = network.numExperts();
        ShardedStart ss = new ShardedStart(start, t.optimiser().newState(start), 0, tr -> {
            ExpertPartitioner ep = tr.expertPartitioner;
            JavaPairRDD<Integer, Parameters> placed = experts.getNumPartitions() == ep.numPartitions() ? experts : experts.partitionBy(ep);
            return placed.mapPartitionsWithIndex((s, it) -> {
                int first = ep.firstExpert(s);
                int[] ids = new int[ep.firstExpert(s + 1) - first];
                Parameters[] p = new Parameters[ids.length];
                OptimiserState[] o = new OptimiserState[ids.length];
                while (it.hasNext()) {
                    Tuple2<Integer, Parameters> e = it.next();
                    int i = e._1() - first;
                    if (e._1() >= n || i < 0 || i >= ids.length) {
                        throw new IllegalArgumentException("warm start: expert " + e._1() + " is not on shard " + s + " of " + ep.numPartitions());
                    }
                    p[i] = e._2().to(t.precision());
                    o[i] = t.optimiser().newState(p[i]);
                }
                for (int i = 0; i < ids.length; i++) {
                    if (p[i] == null) throw new IllegalArgumentException("warm start: expert " + (first + i) + " is missing");
                    ids[i] = first + i;
                }
                return Collections.singletonList(new ExpertShard(s, ids, p, o)).iterator();
            }, true);
        });
        return new SparkMoETrainer(sc, network, config, data, ss);
    }

    /**
     * The SHARDED placement's experts as (expert index, parameters) pairs where they live, without
     * gathering: partition i holds the experts of shard i ({@link #expertPartitioner()}). Derived from
     * the current state: persist and materialise it before {@link #close()} to keep it. (With DRIVER
     * placement the experts are on the driver: {@link #snapshot()}.)
     */
    public JavaPairRDD<Integer, Parameters> expertParameters() {
        if (config.placement() == ExpertPlacement.DRIVER) {
            throw new IllegalStateException("with DRIVER placement the experts are on the driver: use snapshot()");
        }
        return expertState.mapPartitionsToPair(it -> {
            List<Tuple2<Integer, Parameters>> out = new ArrayList<>();
            while (it.hasNext()) {
                ExpertShard s = it.next();
                for (int i = 0; i < s.experts.length; i++) out.add(new Tuple2<>(s.experts[i], s.params[i]));
            }
            return out.iterator();
        }, true);
    }

    /** How experts map to shards (partition i of {@link #expertParameters()} holds shard i). */
    public ExpertPartitioner expertPartitioner() {
        return expertPartitioner;
    }

    /** The current shared parameters (input layer, gating network, head). */
    public Parameters sharedParameters() {
        return shared;
    }

    /** All parameters and optimiser state on the driver (gathers sharded experts). */
    public TrainingState snapshot() {
        if (config.placement() == ExpertPlacement.DRIVER) {
            return new TrainingState(new ModelParameters(shared, experts), sharedOptimiser, expertOptimisers, step).copy();
        }
        Gathered g = gatherExperts();
        return new TrainingState(new ModelParameters(shared.copy(), g.params()), sharedOptimiser.copy(), g.states(), step);
    }

    private record Gathered(Parameters[] params, OptimiserState[] states) {
    }

    private Gathered gatherExperts() {
        Parameters[] p = new Parameters[network.numExperts()];
        OptimiserState[] o = new OptimiserState[network.numExperts()];
        for (ExpertShard s : expertState.collect()) {
            for (int i = 0; i < s.experts.length; i++) {
                p[s.experts[i]] = s.params[i];
                o[s.experts[i]] = s.states[i];
            }
        }
        return new Gathered(p, o);
    }

    /** The sharded expert state (SHARDED placement), e.g. for writing checkpoints from the executors. */
    public JavaRDD<ExpertShard> expertState() {
        return expertState;
    }

    @Override
    public void close() {
        if (expertState != null) expertState.unpersist(false);
        for (Broadcast<?> b : lineageBroadcasts) b.destroy(false);
        lineageBroadcasts.clear();
    }
}
