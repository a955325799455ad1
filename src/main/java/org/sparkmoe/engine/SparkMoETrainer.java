package org.sparkmoe.engine;

import org.sparkmoe.core.network.RowBlock;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
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
 * Data-parallel MoE training on Spark (docs/DESIGN.md section 7). A step is at most two Spark jobs
 * (one with local routing and the experts on the driver, whose gradients then come back in the
 * aggregation records):
 * <ol>
 * <li><b>the step</b>, one DAG: each data partition selects its rows of the mini-batch and runs the
 * input layer and the gate ({@link PartitionStep}); then the routing's pipeline
 * ({@link ShufflePipeline} or {@link LocalPipeline}, whose javadoc draws the data flow) runs the
 * experts forward and backward, the combine, the loss and the input-layer backward, its stages
 * chained by shuffles. The batch-global balance statistics (O(n)) travel with the rows: every
 * partition sends its partial Importance/Load sums to every partition, and each sums them in
 * partition order, so the balance gradient is the same everywhere and no stage waits for the
 * driver. The job ends by collecting one aggregation record per data partition (shared-parameter
 * gradient, loss, statistics, expert batch sizes) and per expert shard (its gradient's sum of
 * squares), summed on the driver in a fixed order;</li>
 * <li><b>the update</b>: global-norm clipping over all groups, then the optimiser: on the driver
 * for the shared parameters, and for the experts wherever the placement's {@link ExpertStore}
 * keeps them ({@link DriverExperts}: collected, or already in the aggregation, and updated on the driver; {@link ShardedExperts}:
 * on the executors, in buffers recycled across steps, so nothing the size of the model is
 * allocated per step).</li>
 * </ol>
 * Every stage is a deterministic function of the step number, the parameters and the data (the
 * gating noise is counter-based), and every reduction runs in a fixed order, so a step's result does
 * not depend on task timing, and partitions lost with an executor are recomputed identically.
 */
public final class SparkMoETrainer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SparkMoETrainer.class);
    /** The most aggregation records a step sends to the driver one per data partition (more are summed in groups first). */
    static final int DIRECT_SUM_LIMIT = 32;

    private final JavaSparkContext sc;
    private final MoENetwork network;
    private final EngineConfig config;
    private final TrainerConfig trainer;
    private final JavaRDD<RowBlock> data;
    /** {@link #data} as the step's tasks read it: the cached blocks without the data's lineage in every task ({@link DataTap}). */
    private final JavaRDD<RowBlock> tap;
    private final int partitions;
    private final BatchPlan plan;
    private final ExpertPartitioner expertPartitioner;
    private final StepPipeline pipeline;
    /** Local routing with driver-held experts: how the step's tasks group and sum the data partitions (else null). */
    private final ReductionTree tree;
    /** {@link #tap} in {@link #tree}'s groups (null without a tree). */
    private final JavaRDD<DataGroups.Slice<RowBlock>> groups;
    /** The data's cached blocks in {@link #tree}'s groups, without the data's lineage, for the one-stage step (null without a tree). */
    private final JavaRDD<DataGroups.Slice<RowBlock>> cachedGroups;
    /** Whether steps may run in one barrier stage ({@link #fusedStep}); {@code -Dsparkmoe.fuseStages=false} measures the two stages. */
    private boolean fuseStages = !"false".equals(System.getProperty("sparkmoe.fuseStages"));
    /** The routing the steps run ({@link RoutingMode#AUTO} resolved). */
    private final RoutingMode routing;
    private final StageClock clock;
    private final ExpertStore experts;
    /** This trainer's key in the executors' {@link ExpertPool}. */
    private final String run = java.util.UUID.randomUUID().toString();
    /** The shuffles this trainer made and still holds: each released once the kept lineage cannot reach it. */
    private final ShuffleRelease shuffles;
    /** The step's RDDs that reach all the shuffles it made, released after it ({@link #releaseStep}). */
    private final List<JavaRDD<?>> stepRoots = new ArrayList<>();

    private Parameters shared;
    private OptimiserState sharedOptimiser;
    private long step;
    private ModelParameters lastGradient;

    /**
     * @param data cached or cacheable row blocks; persisted here (MEMORY_AND_DISK) if not already
     */
    public SparkMoETrainer(JavaSparkContext sc, MoENetwork network, EngineConfig config, JavaRDD<RowBlock> data) {
        this(sc, network, config, data, (Object) null);
    }

    /**
     * Resumes from {@code initial} (parameters, optimiser state, step) held on the driver. With
     * SHARDED placement its experts are sent to the shards again to recompute a lost one until the
     * first lineage checkpoint ({@link EngineConfig#lineageCheckpointInterval}): they must not change until then.
     */
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

    /**
     * Where a sharded run resumes from; {@code root}: whether the shards' RDD is recomputable from its
     * lineage ({@link ShardedExperts.Root}); {@code rootReleased}: run once the lineage no longer reads it, or null.
     */
    record ShardedStart(Parameters shared, OptimiserState sharedOptimiser, long step,
                        java.util.function.Function<SparkMoETrainer, JavaRDD<ExpertShard>> shards,
                        ShardedExperts.Root root, Runnable rootReleased) {
    }

    private SparkMoETrainer(JavaSparkContext sc, MoENetwork network, EngineConfig config, JavaRDD<RowBlock> data,
                            Object initial) {
        org.sparkmoe.engine.serde.SerializerAdvice.check(sc.getConf());
        BlasThreadsAdvice.check(sc.getConf());
        this.sc = sc;
        // first: RDDs built before it (the caller's data and lineage) are never walked into
        this.shuffles = new ShuffleRelease(sc.sc());
        this.network = network;
        this.trainer = config.trainer();
        if (data.getStorageLevel().equals(StorageLevel.NONE())) {
            data = data.persist(StorageLevel.MEMORY_AND_DISK());
        }
        this.data = data;
        this.tap = new JavaRDD<>(new DataTap<>(data.rdd()), data.classTag());
        this.partitions = data.getNumPartitions();
        List<Long> sizes = data.mapPartitions(it -> {
            long n = 0;
            while (it.hasNext()) n += it.next().size();
            return Collections.singletonList(n).iterator();
        }).collect();
        long[] s = new long[sizes.size()];
        for (int i = 0; i < s.length; i++) s[i] = sizes.get(i);
        this.plan = new BatchPlan(trainer.seed(), config.batchSize(), s);
        // a data-sized batch (0) is resolved from the sizes just counted: the rest of the engine sees the number
        config = config.withBatchSize(plan.batchSize());
        this.config = config;
        this.expertPartitioner = new ExpertPartitioner(network.numExperts(), config.expertShards());
        DataPartitioner dataPartitioner = new DataPartitioner(partitions);
        this.routing = config.routing().resolve(config.placement(), partitions, network.numExperts(),
                network.moe().expert().layout().size(), network.moe().gating().slotsPerRow(), config.batchSize(),
                network.moe().expert().dim());
        // local routing with the experts on the driver: one task per core, each running a group of data partitions
        this.tree = routing == RoutingMode.LOCAL && config.placement() == ExpertPlacement.DRIVER
                ? ReductionTree.of(partitions, network.numExperts(), sc.defaultParallelism()) : null;
        this.groups = tree == null ? null : new JavaRDD<>(new DataGroups<>(tap.rdd(), tree.starts()), DataGroups.sliceTag());
        this.cachedGroups = tree == null ? null : new JavaRDD<>(new CachedGroups<>(data.rdd(), tree.starts()), DataGroups.sliceTag());
        this.pipeline = routing == RoutingMode.SHUFFLE ? new ShufflePipeline(expertPartitioner, dataPartitioner,
                ReductionTree.of(partitions, network.numExperts(), sc.defaultParallelism()), sc.isLocal())
                : new LocalPipeline(expertPartitioner, dataPartitioner, tree);
        this.clock = new StageClock(sc);
        if (initial instanceof ShardedStart ss) {
            this.shared = ss.shared;
            this.sharedOptimiser = ss.sharedOptimiser;
            this.step = ss.step;
            this.experts = sharded(ss.shards.apply(this), ss.root, ss.rootReleased);
            shuffles.track(experts.lineage()); // a warm start's re-sharding: held while its root is
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
            this.experts = config.placement() == ExpertPlacement.DRIVER
                    ? new DriverExperts(sc, trainer.optimiser(), network.moe().expert().layout(), start.params().experts(),
                    start.expertOptimisers())
                    : sharded(distribute(start), ShardedExperts.Root.RECOMPUTABLE, null);
        } else {
            this.shared = network.initialiseShared(trainer.precision(), trainer.seed());
            this.sharedOptimiser = trainer.optimiser().newState(shared);
            this.step = 0;
            this.experts = sharded(initialiseShards(), ShardedExperts.Root.RECOMPUTABLE, null);
        }
        logStart();
    }

    private ShardedExperts sharded(JavaRDD<ExpertShard> state, ShardedExperts.Root root, Runnable rootReleased) {
        return new ShardedExperts(sc, trainer.optimiser(), network.numExperts(), config.lineageCheckpointInterval(), run, state,
                root, rootReleased);
    }

    private void logStart() {
        LOG.info("spark-moe engine: {} data partitions, {} examples, batch {}, {} experts on {} shards, routing {}, placement {}",
                partitions, plan.stepsPerEpoch() * config.batchSize(), config.batchSize(), network.numExperts(),
                config.expertShards(), routing, config.placement());
    }

    private JavaRDD<ExpertShard> initialiseShards() {
        MoENetwork net = network;
        TrainerConfig t = trainer;
        ExpertPartitioner ep = expertPartitioner;
        return shardIds().map(s -> ExpertShard.initialise(net, t.optimiser(), t.precision(), t.seed(), ep, s));
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
        return sc.parallelize(shards, config.expertShards());
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

    /** The routing this trainer's steps run (the configured one, {@link RoutingMode#AUTO} resolved). */
    public RoutingMode routing() {
        return routing;
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

    /** One training step: the step's job, then the update (see the class comment). */
    public StepReport trainStep() {
        long t = step + 1;
        long start = System.nanoTime();
        StepContext ctx = new StepContext(network, trainer.precision(), trainer.seed(), t, plan, config.shufflePayload(), run);
        JobLabel label = new JobLabel(sc, "spark-moe-step-" + t, "spark-moe step " + t).set("");
        clock.reset();
        // one broadcast: the shared group, and the experts after it when they live on the driver
        Broadcast<Parameters[]> paramsB;
        if (experts instanceof DriverExperts de) {
            paramsB = de.beginStep(shared);
        } else {
            experts.beginStep();
            paramsB = StepBroadcast.ofShared(sc, shared);
        }
        StepBroadcast sharedB = new StepBroadcast(paramsB);
        List<JavaRDD<?>> persisted = new ArrayList<>();
        boolean fused = fusedStep();
        try {
            return runStep(t, start, ctx, label, paramsB, sharedB, persisted, fused);
        } finally {
            releaseStep();
        }
    }

    private StepReport runStep(long t, long start, StepContext ctx, JobLabel label, Broadcast<Parameters[]> paramsB,
                               StepBroadcast sharedB, List<JavaRDD<?>> persisted, boolean fused) {
        StepPipeline.Flow flow = fused ? ((LocalPipeline) pipeline).fused(ctx, cachedGroups, partitions, sharedB, clock)
                : pipeline.build(ctx, gate(ctx, sharedB, persisted), partitions, sharedB, experts, clock, persisted);
        stepRoots.add(flow.aggregation());
        stepRoots.add(flow.expertGrads());
        long tBuilt = System.nanoTime();

        // job 1: the step, ending in the aggregation
        Aggregate total;
        try {
            total = flow.tree() != null ? sumTree(flow.aggregation(), flow.tree()) : sumInOrder(flow.aggregation());
        } catch (Exception e) {
            if (!fused || !(e instanceof org.apache.spark.SparkException) || String.valueOf(e.getMessage()).contains("cancelled")) throw e;
            // Spark does not retry a failed barrier result stage (an executor lost, or a cached data block with it,
            // CachedGroups.MISSING): the job is aborted. The step is a function of the parameters and the data, so it
            // runs again in two stages, whose tasks Spark retries and which recompute lost blocks: the same floats.
            // A failure of the step itself fails again there and is thrown.
            LOG.warn("step {}: the one-stage step failed ({}); running it in two stages", t, e.getMessage());
            for (JavaRDD<?> r : persisted) r.unpersist(false);
            persisted.clear();
            flow = pipeline.build(ctx, gate(ctx, sharedB, persisted), partitions, sharedB, experts, clock, persisted);
            stepRoots.add(flow.aggregation());
            total = sumTree(flow.aggregation(), flow.tree());
        }
        long tJob = System.nanoTime();
        // with the expert gradients in the aggregation (local routing, experts on the driver) there is no second job
        boolean gradsHere = flow.expertGrads() == null;
        if (gradsHere) total.expertSumOfSquares = total.expertGradSumOfSquares();
        double sumSq = total.sharedGrad.flat().sumOfSquares() + total.expertSumOfSquares;
        double norm = Math.sqrt(sumSq);
        BalanceResult balance = network.moe().balance(total.stats);

        // job 2: the update
        label.set(": update");
        double lr = trainer.schedule().rate(t);
        if (config.keepGradients()) {
            lastGradient = gradsHere ? gradientOf(total.sharedGrad, total.expertGrads)
                    : gradientOf(total.sharedGrad, flow.expertGrads().collect());
        }
        double scale = trainer.clipNorm() > 0 ? GradientClipping.scaleFor(trainer.clipNorm(), sumSq) : 1.0;
        trainer.optimiser().stepInto(shared, sharedOptimiser, total.sharedGrad, scale, shared, sharedOptimiser, t, lr);
        if (gradsHere) ((DriverExperts) experts).update(total.expertGrads, scale, t, lr);
        else experts.update(flow.expertGrads(), scale, t, lr);
        long end = System.nanoTime();

        for (JavaRDD<?> r : persisted) r.unpersist(false);
        experts.endStep(List.of(paramsB));
        label.restore();
        step = t;
        releaseStep();
        long released = System.nanoTime();

        Map<String, Double> timings = clock.millis();
        timings.put(StepMetrics.DRIVER_BUILD, ms(start, tBuilt));
        timings.put(StepMetrics.DRIVER_RELEASE, ms(end, released));
        timings.put(StepMetrics.STEP_JOB, ms(start, tJob));
        timings.put(StepMetrics.AGGREGATE, total.driverNanos / 1e6);
        timings.put(StepMetrics.OPTIMISER, ms(tJob, end));
        boolean shuffle = routing == RoutingMode.SHUFFLE;
        int minBatch = shuffle ? total.minNonZero(total.rowsPerExpert) : total.minPartitionBatch;
        int maxBatch = shuffle ? total.max(total.rowsPerExpert) : total.maxPartitionBatch;
        double mean = shuffle ? total.meanNonZero(total.rowsPerExpert)
                : total.partitionBatches == 0 ? 0 : (double) total.partitionRows / total.partitionBatches;
        return new StepReport(t, total.examples, total.weightSum > 0 ? total.lossSum / total.weightSum : 0, balance, total.rowsPerExpert,
                minBatch, maxBatch, mean, norm, lr, (end - start) / 1e9, timings);
    }

    /**
     * Releases the shuffles of this step (and of the lineage a cut just dropped) that the store's
     * kept lineage cannot reach: at most the steps since the last lineage cut stay on disk
     * (docs/DESIGN.md section 7, "The step's shuffles and the lineage"). Runs after a failed step too.
     */
    private void releaseStep() {
        if (stepRoots.isEmpty()) return;
        try {
            shuffles.track(stepRoots);
            stepRoots.clear();
            shuffles.retainOnly(experts.lineage());
        } catch (RuntimeException e) {
            stepRoots.clear();
            LOG.warn("step {}: could not release its shuffles: {}", step, e.toString());
        }
    }

    /** The shuffles this trainer still holds (tests). */
    java.util.Set<Integer> heldShuffles() {
        return shuffles.held();
    }

    /**
     * The step's gate stage (persisted until the step ends): each data partition's, or with groups
     * each group's partitions' in order ({@link LocalPipeline}).
     */
    private JavaRDD<PartitionStep> gate(StepContext ctx, StepBroadcast sharedB, List<JavaRDD<?>> persisted) {
        StageClock c = clock;
        boolean local = routing == RoutingMode.LOCAL;
        return ShufflePipeline.persist(groups != null ? NamedRDDs.map(groups, (g, it) -> {
            long t0 = System.nanoTime();
            List<PartitionStep> steps = LocalPipeline.gateGroup(ctx, sharedB, it);
            c.gate(t0);
            return steps.iterator();
        }) : NamedRDDs.map(tap, (p, it) -> {
            long t0 = System.nanoTime();
            PartitionStep ps = local ? PartitionStep.gateLocal(ctx, sharedB.value(), p, it) : PartitionStep.gate(ctx, sharedB.value(), p, it);
            c.gate(t0);
            return Collections.singletonList(ps).iterator();
        }), "spark-moe gate", persisted);
    }

    /**
     * Whether this step's groups run as one barrier stage ({@link LocalPipeline#fused}) rather than
     * two: only when Spark can run it. It refuses barrier stages under dynamic allocation, and a job
     * whose barrier stage has more tasks than the cluster has slots waits, its submission retried every
     * 15 s; with fewer slots than groups now (an executor lost), the two stages run instead. Either
     * way the step adds the same floats in the same order.
     */
    private boolean fusedStep() {
        if (cachedGroups == null || !fuseStages) return false;
        if (org.apache.spark.util.Utils.isDynamicAllocationEnabled(sc.getConf())) return false;
        org.apache.spark.SparkContext s = sc.sc();
        return s.maxNumConcurrentTasks(s.resourceProfileManager().defaultResourceProfile()) >= tree.groups();
    }

    /** Tests: {@code false} runs every step in two stages, as without barrier mode. */
    void fuseStages(boolean on) {
        fuseStages = on;
    }

    /** A step's aggregation records summed in index order. */
    private final class Aggregate {
        Parameters sharedGrad;
        double lossSum;
        int examples;
        double weightSum;
        final double[] stats = new double[network.moe().gating().statsSize()];
        final int[] rowsPerExpert = new int[network.numExperts()];
        /** The expert gradients, summed in partition order, when the records carry them (else all null). */
        final Parameters[] expertGrads = new Parameters[network.numExperts()];
        double expertSumOfSquares;
        // expert batch sizes per (partition, expert), for local routing
        int minPartitionBatch = Integer.MAX_VALUE;
        int maxPartitionBatch;
        long partitionRows;
        int partitionBatches;
        /** The driver's time summing the collected records. */
        long driverNanos;

        void add(PartitionResult r) {
            if (r.sharedGrad() != null) {
                // adopted, not copied: every record is the step's own (a task result, deserialised or handed over in local mode, or a sum of them)
                if (sharedGrad == null) sharedGrad = r.sharedGrad();
                else sharedGrad.flat().axpy(1, r.sharedGrad().flat());
            }
            lossSum += r.lossSum();
            examples += r.examples();
            weightSum += r.weightSum();
            if (r.stats() != null) for (int i = 0; i < stats.length; i++) stats[i] += r.stats()[i];
            if (r.expertCounts() != null) {
                // n per data partition the record covers (several: a group's record, ReductionTree)
                for (int i = 0; i < r.expertCounts().length; i++) {
                    int e = i % rowsPerExpert.length;
                    int n = r.expertCounts()[i];
                    rowsPerExpert[e] += n;
                    if (n > 0) {
                        minPartitionBatch = Math.min(minPartitionBatch, n);
                        maxPartitionBatch = Math.max(maxPartitionBatch, n);
                        partitionRows += n;
                        partitionBatches++;
                    }
                }
            }
            expertSumOfSquares += r.expertSumOfSquares();
            addExpertGrads(expertGrads, r.expertGrads());
        }

        /** The sum of squares of the carried expert gradients, experts in index order. */
        double expertGradSumOfSquares() {
            double s = 0;
            for (Parameters g : expertGrads) if (g != null) s += g.flat().sumOfSquares();
            return s;
        }

        void add(Aggregate a) {
            add(new PartitionResult(0, a.sharedGrad, a.lossSum, a.examples, a.weightSum, a.stats, null, a.expertSumOfSquares,
                    a.expertGrads));
            for (int e = 0; e < rowsPerExpert.length; e++) rowsPerExpert[e] += a.rowsPerExpert[e];
            minPartitionBatch = Math.min(minPartitionBatch, a.minPartitionBatch);
            maxPartitionBatch = Math.max(maxPartitionBatch, a.maxPartitionBatch);
            partitionRows += a.partitionRows;
            partitionBatches += a.partitionBatches;
        }

        int minNonZero(int[] counts) {
            int min = Integer.MAX_VALUE;
            for (int c : counts) if (c > 0) min = Math.min(min, c);
            return min == Integer.MAX_VALUE ? 0 : min;
        }

        int max(int[] counts) {
            int max = 0;
            for (int c : counts) max = Math.max(max, c);
            return max;
        }

        double meanNonZero(int[] counts) {
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
    }

    /** The groups' records summed to the root of {@code tree}, then the expert shards' records (index P + s) in index order. */
    private Aggregate sumTree(JavaRDD<PartitionResult> records, ReductionTree tree) {
        List<PartitionResult> all = collect(records);
        long t0 = System.nanoTime();
        Aggregate total = new Aggregate();
        List<PartitionResult> groups = new ArrayList<>(all.size());
        for (PartitionResult r : all) if (r.partition() < partitions) groups.add(r);
        total.add(tree.sumGroups(groups));
        for (PartitionResult r : all) if (r.partition() >= partitions) total.add(r);
        total.driverNanos = System.nanoTime() - t0;
        return total;
    }

    /**
     * The aggregation records summed in index order (Spark's aggregate merges in task completion
     * order, which would make float sums, and so training, depend on timing). Up to
     * {@value #DIRECT_SUM_LIMIT} records are summed on the driver; more go through one level of
     * fixed-order partial sums on the executors first (in the same job).
     */
    private Aggregate sumInOrder(JavaRDD<PartitionResult> records) {
        int count = records.getNumPartitions();
        Aggregate total = new Aggregate();
        if (count <= DIRECT_SUM_LIMIT) {
            List<PartitionResult> all = collect(records);
            long t0 = System.nanoTime();
            for (PartitionResult r : all) total.add(r);
            if (total.sharedGrad == null) total.sharedGrad = network.sharedLayout().allocate(trainer.precision());
            total.driverNanos = System.nanoTime() - t0;
            return total;
        }
        int groupSize = (int) Math.ceil(Math.sqrt(count));
        int groups = (count + groupSize - 1) / groupSize;
        JavaRDD<PartitionResult> sums = Shuffles.partitionBy(records.mapToPair(r -> new Tuple2<>(r.partition() / groupSize, r)),
                        new DataPartitioner(groups))
                .mapPartitions(it -> {
                    List<PartitionResult> l = new ArrayList<>();
                    it.forEachRemaining(x -> l.add(x._2()));
                    l.sort(Comparator.comparingInt(PartitionResult::partition));
                    return Collections.singletonList(sumSequential(l)).iterator();
                });
        stepRoots.add(sums); // its shuffle is reached from none of the flow's RDDs
        List<PartitionResult> partial = sums.collect();
        long t0 = System.nanoTime();
        for (PartitionResult r : partial) total.add(r);
        if (total.sharedGrad == null) total.sharedGrad = network.sharedLayout().allocate(trainer.precision());
        total.driverNanos = System.nanoTime() - t0;
        return total;
    }

    /**
     * {@code rdd}'s elements in partition order, as {@code collect()} returns them, but without Spark's
     * closure cleaner: {@code collect} hands it two Scala lambdas, which it parses with ASM from their
     * class files (read and inflated from the Spark jar) on every call; with a named function class
     * there is nothing to parse. That was about 40% of the driver thread's samples in a classifier step
     * (BENCHMARKS.md, "Session-7 fit work"). With a local master the elements are not serialised at all
     * ({@link LocalResults}): the driver gets the objects the tasks built.
     */
    static <T> List<T> collect(JavaRDD<T> rdd) {
        int n = rdd.getNumPartitions();
        List<Object> ids = new ArrayList<>(n);
        for (int i = 0; i < n; i++) ids.add(i);
        Object[][] parts = new Object[n][];
        // local master: the tasks run in this JVM and hand their elements over by reference (LocalResults)
        boolean local = rdd.context().isLocal();
        long job = local ? LocalResults.open() : -1;
        try {
            rdd.context().runJob(rdd.rdd(), local ? new LocalResults.Keep<T>(job) : new ToArray<T>(),
                    scala.jdk.javaapi.CollectionConverters.asScala(ids).toSeq(),
                    new scala.runtime.AbstractFunction2<Object, Object[], scala.runtime.BoxedUnit>() {
                        @Override
                        public scala.runtime.BoxedUnit apply(Object index, Object[] part) {
                            parts[(Integer) index] = local ? LocalResults.take(job, (Long) part[0]) : part;
                            return scala.runtime.BoxedUnit.UNIT;
                        }
                    }, scala.reflect.ClassTag$.MODULE$.apply(Object[].class));
        } finally {
            if (local) LocalResults.close(job);
        }
        List<T> all = new ArrayList<>();
        for (Object[] p : parts) {
            for (Object o : p) {
                @SuppressWarnings("unchecked")
                T t = (T) o;
                all.add(t);
            }
        }
        return all;
    }

    /**
     * A partition's elements as an array (the type {@code collect} ships, registered with Kryo): a
     * named class, so the closure cleaner has nothing to parse ({@link #collect}).
     */
    static final class ToArray<T> extends scala.runtime.AbstractFunction2<org.apache.spark.TaskContext, scala.collection.Iterator<T>,
            Object[]> implements java.io.Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public Object[] apply(org.apache.spark.TaskContext context, scala.collection.Iterator<T> it) {
            return elements(it);
        }

        /** A partition's elements in order. */
        static Object[] elements(scala.collection.Iterator<?> it) {
            List<Object> out = new ArrayList<>();
            while (it.hasNext()) out.add(it.next());
            return out.toArray();
        }
    }

    /** Records summed in list order into one (statistics and expert batch sizes summed elementwise). */
    private static PartitionResult sumSequential(List<PartitionResult> parts) {
        Parameters sum = null;
        double loss = 0;
        int examples = 0;
        double weightSum = 0;
        int first = Integer.MAX_VALUE;
        double[] stats = null;
        int[] counts = null;
        double sq = 0;
        Parameters[] expertGrads = null;
        for (PartitionResult r : parts) {
            if (r.expertGrads() != null) {
                if (expertGrads == null) expertGrads = new Parameters[r.expertGrads().length];
                addExpertGrads(expertGrads, r.expertGrads());
            }
            if (r.sharedGrad() != null) {
                if (sum == null) sum = r.sharedGrad().copy();
                else sum.flat().axpy(1, r.sharedGrad().flat());
            }
            if (r.stats() != null) {
                if (stats == null) stats = new double[r.stats().length];
                for (int i = 0; i < stats.length; i++) stats[i] += r.stats()[i];
            }
            if (r.expertCounts() != null) {
                if (counts == null) counts = new int[r.expertCounts().length];
                for (int i = 0; i < counts.length; i++) counts[i] += r.expertCounts()[i];
            }
            loss += r.lossSum();
            examples += r.examples();
            weightSum += r.weightSum();
            sq += r.expertSumOfSquares();
            first = Math.min(first, r.partition());
        }
        return new PartitionResult(first, sum, loss, examples, weightSum, stats, counts, sq, expertGrads);
    }

    /** {@code part}'s expert gradients (null: none) added into {@code sum}, expert by expert. */
    private static void addExpertGrads(Parameters[] sum, Parameters[] part) {
        if (part == null) return;
        for (int e = 0; e < part.length; e++) {
            if (part[e] == null) continue;
            if (sum[e] == null) sum[e] = part[e].copy();
            else sum[e].flat().axpy(1, part[e].flat());
        }
    }

    private ModelParameters gradientOf(Parameters sharedGrad, List<ExpertGrads> shardGrads) {
        Parameters[] grads = new Parameters[network.numExperts()];
        for (ExpertGrads g : shardGrads) {
            for (int i = 0; i < g.experts().length; i++) grads[g.experts()[i]] = g.grads()[i];
        }
        return gradientOf(sharedGrad, grads);
    }

    /** Copies of the gradients by expert index (null: zeros). */
    private ModelParameters gradientOf(Parameters sharedGrad, Parameters[] byExpert) {
        Parameters[] grads = new Parameters[network.numExperts()];
        for (int e = 0; e < grads.length; e++) if (byExpert[e] != null) grads[e] = byExpert[e].copy();
        for (int e = 0; e < grads.length; e++) {
            if (grads[e] == null) grads[e] = network.moe().expert().layout().allocate(trainer.precision());
        }
        return new ModelParameters(sharedGrad.copy(), grads);
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
        JobLabel label = new JobLabel(sc, "spark-moe-checkpoint-" + done, "spark-moe checkpoint at step " + done).set("");
        try {
            if (experts instanceof DriverExperts de) {
                store.save(new TrainingState(new ModelParameters(shared, de.params()), sharedOptimiser, de.states(), done), meta);
                return meta;
            }
            CheckpointStore.Pending pending = store.begin(done);
            try {
                pending.writeShared(shared, sharedOptimiser);
                expertState().foreach(sh -> {
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
            label.restore();
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
            // the files stay until the first lineage checkpoint: a lost executor's shard is read from them again
            ShardedStart start = new ShardedStart(sd.params(), sd.state(), meta.step(), t -> t.shardIds().map(s -> {
                CheckpointStore.ShardData d = store.loadExpertShard(meta, s, expertLayout);
                return new ExpertShard(d.shard(), d.expertIds(), d.params(), d.states());
            }), ShardedExperts.Root.RECOMPUTABLE, store.hold(meta.step()));
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
        }, ShardedExperts.Root.OPAQUE, null); // the caller's RDD: nothing says it gives the same values again
        return new SparkMoETrainer(sc, network, config, data, ss);
    }

    /**
     * The SHARDED placement's experts as (expert index, parameters) pairs where they live, without
     * gathering: partition i holds the experts of shard i ({@link #expertPartitioner()}). Derived from
     * the current state: persist and materialise it before {@link #close()} or the next
     * {@link #trainStep()} to keep it (the engine recycles the state's buffers two steps on). (With DRIVER
     * placement the experts are on the driver: {@link #snapshot()}.)
     */
    public JavaPairRDD<Integer, Parameters> expertParameters() {
        if (!(experts instanceof ShardedExperts se)) {
            throw new IllegalStateException("with DRIVER placement the experts are on the driver: use snapshot()");
        }
        return se.pairs();
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
        if (experts instanceof DriverExperts de) {
            return new TrainingState(new ModelParameters(shared, de.params()), sharedOptimiser, de.states(), step).copy();
        }
        ExpertStore.Gathered g = experts.gather();
        return new TrainingState(new ModelParameters(shared.copy(), g.params()), sharedOptimiser.copy(), g.states(), step);
    }

    /** The sharded expert state (SHARDED placement; null with DRIVER), e.g. for writing checkpoints from the executors. */
    public JavaRDD<ExpertShard> expertState() {
        return experts instanceof ShardedExperts se ? se.state() : null;
    }

    @Override
    public void close() {
        releaseStep();
        shuffles.releaseAll();
        experts.close();
        // in local mode the driver is the executor; elsewhere the executors drop the run's buffers when idle
        ExpertPool.release(run);
    }
}
