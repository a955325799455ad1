package org.sparkmoe.engine.sequence;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Map;

import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparkmoe.core.gating.BalanceResult;
import org.sparkmoe.core.layer.MoELayer;
import org.sparkmoe.core.linalg.Matrix;
import org.sparkmoe.core.linalg.Precision;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.optim.GradientClipping;
import org.sparkmoe.core.optim.OptimiserState;
import org.sparkmoe.core.param.ParameterLayout;
import org.sparkmoe.core.param.Parameters;
import org.sparkmoe.core.recurrent.DocumentStreams;
import org.sparkmoe.core.recurrent.RecurrentLanguageModel;
import org.sparkmoe.core.recurrent.RecurrentState;
import org.sparkmoe.core.train.TrainerConfig;
import org.sparkmoe.core.train.TrainingState;
import org.sparkmoe.engine.DataPartitioner;
import org.sparkmoe.engine.EngineConfig;
import org.sparkmoe.engine.ExpertPool;
import org.sparkmoe.engine.ExpertExchange;
import org.sparkmoe.engine.ExpertPlacement;
import org.sparkmoe.engine.JobLabel;
import org.sparkmoe.engine.PartitionResult;
import org.sparkmoe.engine.RoutingMode;
import org.sparkmoe.engine.ShuffleBlock;
import org.sparkmoe.engine.ShufflePayload;
import org.sparkmoe.engine.ShuffleRelease;
import org.sparkmoe.engine.Shuffles;
import org.sparkmoe.engine.StepReport;
import org.sparkmoe.engine.checkpoint.CheckpointMeta;
import org.sparkmoe.engine.checkpoint.CheckpointStore;
import org.sparkmoe.engine.metrics.StepMetrics;

import scala.Tuple2;

/**
 * Data-parallel training of a {@link RecurrentLanguageModel} on Spark, step for step equal to the
 * single-JVM {@link org.sparkmoe.core.train.SequenceTrainer} (same windows, noise, dropout, loss
 * scale and update). Each of the P data partitions holds some of the S streams
 * ({@link SequenceLayout}); a step is one window of T tokens of every stream: one Spark job that
 * ends in a collect, in index order, of each partition's shared gradient, loss, statistics and
 * cursor (stream positions and the LSTM state leaving the window) and each expert shard's gradient
 * sum of squares; then the update on the driver (global-norm clipping, the optimiser for the shared
 * parameters and wherever the placement keeps the experts). The job depends on the model
 * (stages in {@link SequencePartitionStep}):
 * <ul>
 * <li><b>no MoE</b> (LSTM-LSTM): one stage, each partition's whole forward and backward pass with
 * loss scale 1; the driver multiplies the summed gradient by 1/N for the step's N targets;</li>
 * <li><b>MoE, routing SHUFFLE</b>: each partition runs the embedding and lower LSTM over all of its
 * sequences at once and gates all of its rows; the rows go to the experts through the shuffle
 * ({@link ExpertExchange}: all S*T rows of the step are one MoE batch, section 3.1), the outputs
 * come back with every partition's balance statistics and target count (so the loss scale 1/N and
 * the balance gradient are global, summed in partition order); each partition runs the upper LSTM
 * and softmax forward and backward, the experts run backward, and each partition finishes with
 * the lower LSTM and embedding backward;</li>
 * <li><b>MoE, routing LOCAL</b> (the config's routing {@link RoutingMode#resolve resolved}: AUTO
 * picks it for small experts held on the driver): the gate as above, then only the statistics
 * travel; each partition runs the broadcast experts on its own rows and the rest of its pass, and
 * the partitions' expert gradients are summed per expert.</li>
 * </ul>
 * The partitions' buffers (workspace, gradients, the model's per-thread scratch) are reused from
 * step to step on each executor ({@link org.sparkmoe.engine.ExpertPool}). The cursors are small
 * ({@code S x d} per LSTM layer) and come back to the driver each step: every step starts from the
 * driver's copy (so a recomputed partition starts from the same state, and no lineage grows across
 * steps), and {@link #checkpoint} writes them beside the parameters. The engine config's batch size
 * is not used: a step is S*T tokens. After each step (also a failed one) the step's shuffles that the
 * kept RDDs (the documents, the experts' lineage) cannot reach are released, at a lineage cut those
 * of the dropped lineage, on {@link #close} all ({@link ShuffleRelease}, as {@code SparkMoETrainer} does).
 */
public final class SparkSequenceTrainer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SparkSequenceTrainer.class);
    /** The file in a checkpoint directory that holds the cursors. */
    public static final String CURSORS = "sequences.bin";
    private static final int CURSORS_MAGIC = 0x53514353; // "SQCS"
    /** How long a failed step waits for its other running tasks before it releases its shuffles ({@link ShuffleRelease#awaitTasks}). */
    private static final long FAILED_TASKS_WAIT_MS = 30_000;

    private final JavaSparkContext sc;
    private final RecurrentLanguageModel model;
    private final EngineConfig config;
    private final TrainerConfig trainer;
    private final SequenceLayout layout;
    private final JavaRDD<DocumentShelf> shelves;
    private final ExpertExchange experts;
    /** SHUFFLE, or LOCAL when the experts live on the driver and are small ({@link RoutingMode#resolve}); SHUFFLE without an MoE. */
    private final RoutingMode routing;
    /** This trainer's key in the executors' {@link ExpertPool} (the partitions' buffers). */
    private final String run = java.util.UUID.randomUUID().toString();
    /** The shuffles this trainer made and still holds: each released once no kept RDD ({@link #kept}) reaches it. */
    private final ShuffleRelease shuffles;
    /** The RDD of the running step that reaches every shuffle it made, released after it ({@link #releaseStep}); null between steps. */
    private JavaRDD<?> stepRoot;

    private Parameters shared;
    private OptimiserState sharedOptimiser;
    private long step;
    private SequenceCursor[] cursors;
    private ModelParameters lastGradient;

    /**
     * Fresh parameters (the trainer's seed; experts initialised where they live) and zero LSTM state.
     *
     * @param documents word ids (without the end token) by document index; every index of the layout's
     *                  range must be present (other indices are dropped)
     */
    public SparkSequenceTrainer(JavaSparkContext sc, RecurrentLanguageModel model, EngineConfig config,
                                JavaPairRDD<Long, int[]> documents, SequenceLayout layout) {
        this(sc, model, config, documents, layout, null, null, null);
    }

    private SparkSequenceTrainer(JavaSparkContext sc, RecurrentLanguageModel model, EngineConfig config,
                                 JavaPairRDD<Long, int[]> documents, SequenceLayout layout, TrainingState start,
                                 SequenceCursor[] cursors, CheckpointedExperts fromCheckpoint) {
        this.sc = sc;
        this.model = model;
        this.config = config;
        this.trainer = config.trainer();
        this.layout = layout;
        // first: RDDs built before it (the caller's documents and their lineage) are never walked into
        this.shuffles = new ShuffleRelease(sc.sc());
        long first = layout.first(), end = layout.first() + layout.count();
        JavaRDD<DocumentShelf> sh = documents.filter(d -> d._1() >= first && d._1() < end)
                .partitionBy(new StreamPartitioner(layout))
                .mapPartitionsWithIndex((p, it) -> Collections.singletonList(new DocumentShelf(p, it)).iterator(), true);
        this.shelves = sh.setName("spark-moe documents by stream").persist(StorageLevel.MEMORY_ONLY());
        shuffles.track(List.of(shelves)); // kept until close: a lost shelf is recomputed from its shuffle
        Precision precision = trainer.precision();
        if (start != null) {
            this.shared = start.params().shared();
            this.sharedOptimiser = start.sharedOptimiser();
            this.step = start.step();
        } else {
            this.shared = model.initialiseShared(precision, trainer.seed());
            this.sharedOptimiser = trainer.optimiser().newState(shared);
            this.step = 0;
        }
        MoELayer moe = model.moe();
        this.routing = moe == null ? RoutingMode.SHUFFLE : config.routing().resolve(config.placement(), layout.partitions(),
                moe.numExperts(), moe.expert().layout().size(), moe.gating().slotsPerRow(), layout.sequences() * layout.steps(), model.dim());
        if (routing == RoutingMode.LOCAL && config.placement() != ExpertPlacement.DRIVER) {
            throw new IllegalArgumentException("the recurrent model routes locally only with its experts on the driver (placement DRIVER),"
                    + " got placement " + config.placement() + "; use routing SHUFFLE or AUTO");
        }
        if (model.moe() == null) {
            this.experts = null;
        } else if (fromCheckpoint != null) {
            this.experts = ExpertExchange.fromCheckpoint(sc, model.moe(), config, fromCheckpoint.store, fromCheckpoint.meta);
        } else if (start != null) {
            this.experts = ExpertExchange.of(sc, model.moe(), config, start.params().experts(), start.expertOptimisers());
        } else {
            this.experts = ExpertExchange.fresh(sc, model.moe(), config);
        }
        this.cursors = cursors != null ? cursors : initialCursors();
        LOG.info("spark-moe sequence engine: {} data partitions, S = {} sequences x T = {} tokens, {} documents, {} experts, placement {},"
                        + " routing {}", layout.partitions(), layout.sequences(), layout.steps(), layout.count(), model.numExperts(),
                config.placement(), routing);
    }

    private record CheckpointedExperts(CheckpointStore store, CheckpointMeta meta) {
    }

    private SequenceCursor[] initialCursors() {
        SequenceCursor[] c = new SequenceCursor[layout.partitions()];
        for (int p = 0; p < c.length; p++) {
            int[] streams = layout.streams(p);
            DocumentStreams ds = new DocumentStreams(layout.sequences(), streams, layout.steps(), k -> new int[0], layout.endToken(),
                    layout.first(), layout.count(), true);
            c[p] = new SequenceCursor(p, ds.documents(), ds.positions(), model.newState(trainer.precision(), streams.length));
        }
        return c;
    }

    public long stepsTaken() {
        return step;
    }

    public SequenceLayout layout() {
        return layout;
    }

    /** How rows reach the experts: the config's routing resolved for this model ({@link RoutingMode#resolve}). */
    public RoutingMode routing() {
        return routing;
    }

    /** The current shared parameters. */
    public Parameters sharedParameters() {
        return shared;
    }

    /** Each partition's stream positions and LSTM state after the last step (the driver's copies; do not change them). */
    public SequenceCursor[] cursors() {
        return cursors.clone();
    }

    /** The LSTM state of all S sequences in stream order (as the single-JVM trainer holds it). */
    public RecurrentState recurrentState() {
        RecurrentState all = model.newState(trainer.precision(), layout.sequences());
        for (SequenceCursor c : cursors) {
            int from = layout.firstStream(c.partition()), d = model.dim();
            for (int l = 0; l < all.layers(); l++) {
                all.hidden(l).slice(from * d, c.state().sequences(), d).copyFrom(c.state().hidden(l));
                all.cell(l).slice(from * d, c.state().sequences(), d).copyFrom(c.state().cell(l));
            }
        }
        return all;
    }

    /** The gradient of the last step before clipping, when {@link EngineConfig#keepGradients()}. */
    public ModelParameters lastGradient() {
        return lastGradient;
    }

    /** One training step: the step's job, then the update (see the class comment). */
    public StepReport trainStep() {
        long t = step + 1;
        JobLabel label = new JobLabel(sc, "spark-moe-step-" + t, "spark-moe sequence step " + t).set("");
        boolean failed = true;
        try {
            StepReport report = runStep(t, label);
            failed = false;
            return report;
        } finally {
            if (failed) {
                if (!shuffles.awaitTasks(sc.getLocalProperty("spark.jobGroup.id"), FAILED_TASKS_WAIT_MS)) {
                    LOG.warn("step {} failed and some of its tasks still run after {} ms: their shuffle files may stay", t,
                            FAILED_TASKS_WAIT_MS);
                }
                label.restore();
            }
            releaseStep();
        }
    }

    private StepReport runStep(long t, JobLabel label) {
        long start = System.nanoTime();
        int partitions = layout.partitions();
        SequencePartitionStep.Context ctx = new SequencePartitionStep.Context(model, layout, trainer.precision(), trainer.seed(), t, run);
        Broadcast<Parameters> sharedB = sc.broadcast(shared);
        List<JavaRDD<?>> persisted = new ArrayList<>();
        ExpertExchange.Step es = experts == null ? null : experts.begin(t);

        // without an MoE: one stage, no exchange (the driver applies the loss scale 1/N)
        boolean unscaled = model.moe() == null;
        JavaRDD<Tuple2<PartitionResult, SequenceCursor>> results = unscaled ? shelves.zipPartitions(
                sc.parallelize(Arrays.asList(cursors), partitions), (sit, cit) -> {
            SequenceCursor cursor = cit.next();
            return Collections.singletonList(SequencePartitionStep.unscaled(ctx, sharedB.value(), cursor.partition(), sit.next(), cursor))
                    .iterator();
        }) : routing == RoutingMode.LOCAL ? localStep(ctx, sharedB, es, persisted) : moeStep(ctx, sharedB, es, persisted);
        stepRoot = results;

        // job 1: the step; records in index order (data partitions, then expert shards)
        List<Tuple2<PartitionResult, SequenceCursor>> records = results.collect();
        long tJob = System.nanoTime();
        Parameters grad = null;
        double lossSum = 0, expertSq = 0;
        int tokens = 0;
        double[] stats = new double[model.moe() == null ? 0 : model.moe().gating().statsSize()];
        int[] rowsPerExpert = new int[model.numExperts()];
        SequenceCursor[] next = new SequenceCursor[partitions];
        for (Tuple2<PartitionResult, SequenceCursor> rec : records) {
            PartitionResult r = rec._1();
            if (r.sharedGrad() != null) {
                if (grad == null) grad = r.sharedGrad();
                else grad.flat().axpy(1, r.sharedGrad().flat());
                for (int i = 0; i < stats.length; i++) stats[i] += r.stats()[i];
                for (int e = 0; e < rowsPerExpert.length; e++) rowsPerExpert[e] += r.expertCounts()[e];
                next[r.partition()] = rec._2();
            }
            lossSum += r.lossSum();
            tokens += r.examples();
            expertSq += r.expertSumOfSquares();
        }
        if (unscaled && tokens > 0) grad.flat().scale(1.0 / tokens);
        double sumSq = grad.flat().sumOfSquares() + expertSq;
        double norm = Math.sqrt(sumSq);
        BalanceResult balance = model.moe() == null ? null : model.moe().balance(stats);

        // job 2: the update
        label.set(": update");
        double lr = trainer.schedule().rate(t);
        if (config.keepGradients()) {
            lastGradient = new ModelParameters(grad.copy(), es == null ? new Parameters[0] : es.gradients());
        }
        double scale = trainer.clipNorm() > 0 ? GradientClipping.scaleFor(trainer.clipNorm(), sumSq) : 1.0;
        trainer.optimiser().stepInto(shared, sharedOptimiser, grad, scale, shared, sharedOptimiser, t, lr);
        if (es != null) es.update(scale, lr);
        long end = System.nanoTime();

        for (JavaRDD<?> r : persisted) r.unpersist(false);
        if (es != null) es.end(List.of(sharedB));
        else sharedB.destroy(false);
        label.restore();
        cursors = next;
        step = t;
        releaseStep();
        long released = System.nanoTime();

        Map<String, Double> timings = experts == null ? new java.util.LinkedHashMap<>() : experts.stageMillis();
        timings.put("step job", (tJob - start) / 1e6);
        timings.put(StepMetrics.DRIVER_RELEASE, (released - end) / 1e6);
        timings.put(StepMetrics.OPTIMISER, (end - tJob) / 1e6);
        int min = 0, max = 0;
        long sum = 0;
        int used = 0;
        for (int c : rowsPerExpert) {
            if (c == 0) continue;
            min = used == 0 ? c : Math.min(min, c);
            max = Math.max(max, c);
            sum += c;
            used++;
        }
        return new StepReport(t, tokens, tokens == 0 ? 0 : lossSum / tokens, balance, rowsPerExpert, min, max,
                used == 0 ? 0 : (double) sum / used, norm, lr, (end - start) / 1e9, timings);
    }

    /**
     * Releases the shuffles of this step (and of the lineage a lineage cut just dropped) that no kept
     * RDD reaches: at most the steps since the last cut stay on disk (docs/DESIGN.md, "The step's
     * shuffles and the lineage"). Runs after a failed step too.
     */
    private void releaseStep() {
        if (stepRoot == null) return;
        List<JavaRDD<?>> roots = new ArrayList<>(kept());
        roots.add(stepRoot);
        stepRoot = null;
        try {
            shuffles.track(roots); // the lineage too: an update's shuffles would be reached only from the state
            shuffles.retainOnly(kept());
        } catch (RuntimeException e) {
            LOG.warn("step {}: could not release its shuffles: {}", step, e.toString());
        }
    }

    /** What the trainer keeps between steps: the documents by stream and the experts' lineage. */
    private List<JavaRDD<?>> kept() {
        List<JavaRDD<?>> out = new ArrayList<>();
        out.add(shelves);
        if (experts != null) out.addAll(experts.lineage());
        return out;
    }

    /** The shuffles this trainer still holds (tests). */
    java.util.Set<Integer> heldShuffles() {
        return shuffles.held();
    }

    /**
     * The step of a model with an MoE (see the class comment): gate, the rows through the experts and
     * back with every partition's statistics, combine, the experts backward, finish; records of the
     * data partitions, then (shard, sum of squares) of the expert shards.
     */
    private JavaRDD<Tuple2<PartitionResult, SequenceCursor>> moeStep(SequencePartitionStep.Context ctx, Broadcast<Parameters> sharedB,
                                                                    ExpertExchange.Step es, List<JavaRDD<?>> persisted) {
        int partitions = layout.partitions();
        JavaRDD<SequencePartitionStep> gated = gated(ctx, sharedB, persisted);
        DataPartitioner byPartition = new DataPartitioner(partitions);
        boolean bf16 = config.shufflePayload() == ShufflePayload.BF16;
        JavaPairRDD<Integer, ShuffleBlock> toCombine = es.forward(gated.flatMapToPair(ps -> ps.dispatch(bf16).iterator()))
                .union(gated.flatMapToPair(ps -> ps.statsForAll(partitions).iterator()));
        JavaRDD<SequencePartitionStep.Combined> combined = persist(gated.zipPartitions(Shuffles.partitionBy(toCombine, byPartition),
                (pit, bit) -> Collections.singletonList(pit.next().combine(ctx, sharedB.value(), bit)).iterator()),
                "spark-moe sequence combine", persisted);
        JavaPairRDD<Integer, ShuffleBlock> inputGrads = Shuffles.partitionBy(es.backward(combined.flatMapToPair(c -> c.backward.iterator())),
                byPartition);
        JavaRDD<Tuple2<PartitionResult, SequenceCursor>> parts = combined.zipPartitions(inputGrads,
                (cit, bit) -> Collections.singletonList(cit.next().finish(ctx, sharedB.value(), bit)).iterator());
        return parts.union(shardRecords(es));
    }

    /**
     * The step of a model with small experts on the driver under local routing: gate, every
     * partition's statistics to every partition, then on each partition the experts (broadcast) on
     * its own rows and the rest of the forward and backward pass; the partitions' expert gradients
     * summed per expert ({@link ExpertExchange.Step#localGradients}). No row leaves its partition.
     */
    private JavaRDD<Tuple2<PartitionResult, SequenceCursor>> localStep(SequencePartitionStep.Context ctx, Broadcast<Parameters> sharedB,
                                                                      ExpertExchange.Step es, List<JavaRDD<?>> persisted) {
        int partitions = layout.partitions();
        JavaRDD<SequencePartitionStep> gated = gated(ctx, sharedB, persisted);
        Broadcast<Parameters[]> expertsB = es.localExperts(partitions);
        JavaPairRDD<Integer, ShuffleBlock> stats = Shuffles.partitionBy(gated.flatMapToPair(ps -> ps.statsForAll(partitions).iterator()),
                new DataPartitioner(partitions));
        JavaRDD<SequencePartitionStep.Local> local = persist(gated.zipPartitions(stats,
                (pit, bit) -> Collections.singletonList(pit.next().local(ctx, sharedB.value(), expertsB.value(), bit)).iterator()),
                "spark-moe sequence local forward and backward", persisted);
        es.localGradients(local.flatMapToPair(l -> l.expertGradients().iterator()));
        return local.map(SequencePartitionStep.Local::result).union(shardRecords(es));
    }

    /** Each expert shard's gradient sum of squares as a record after the P data partitions' (index P + shard, no cursor). */
    private JavaRDD<Tuple2<PartitionResult, SequenceCursor>> shardRecords(ExpertExchange.Step es) {
        int partitions = layout.partitions();
        return es.sumsOfSquares().map(s -> new Tuple2<>(
                new PartitionResult(partitions + s._1(), null, 0, 0, null, null, s._2()), (SequenceCursor) null));
    }

    /** Stage 1 of a step with an MoE: each partition's next window, lower stages and gate, kept for the step. */
    private JavaRDD<SequencePartitionStep> gated(SequencePartitionStep.Context ctx, Broadcast<Parameters> sharedB, List<JavaRDD<?>> persisted) {
        JavaRDD<SequenceCursor> entering = sc.parallelize(Arrays.asList(cursors), layout.partitions());
        return persist(shelves.zipPartitions(entering, (sit, cit) -> {
            DocumentShelf shelf = sit.next();
            SequenceCursor cursor = cit.next();
            return Collections.singletonList(SequencePartitionStep.gate(ctx, sharedB.value(), cursor.partition(), shelf, cursor)).iterator();
        }), "spark-moe sequence gate", persisted);
    }

    private static <T> JavaRDD<T> persist(JavaRDD<T> rdd, String name, List<JavaRDD<?>> persisted) {
        rdd.setName(name).persist(StorageLevel.MEMORY_ONLY());
        persisted.add(rdd);
        return rdd;
    }

    /** Held-out next-token cross-entropy: summed over {@code tokens} predictions; {@link #perplexity()} = exp(mean). */
    public record Evaluation(double lossSum, long tokens) implements java.io.Serializable {
        public double perplexity() {
            return tokens == 0 ? Double.NaN : Math.exp(lossSum / tokens);
        }
    }

    /**
     * Held-out evaluation at the current parameters, without noise or dropout: every document of
     * {@code documents} read once from a zero LSTM state, up to {@code sequences} at a time per data
     * partition. Rows are independent without noise and every document starts from a zero state,
     * so the result does not depend on how the documents are partitioned or batched: it equals
     * {@link org.sparkmoe.core.train.SequenceTrainer#perplexity} on the same documents. The experts
     * are gathered and broadcast (each partition runs the whole model locally; no gradient, so the
     * shrinking-batch argument for the shuffle does not apply).
     */
    public Evaluation evaluate(JavaPairRDD<Long, int[]> documents, int sequences) {
        if (sequences <= 0) throw new IllegalArgumentException("sequences must be positive, got " + sequences);
        JobLabel label = new JobLabel(sc, "spark-moe-evaluate-" + step, "spark-moe sequence evaluation at step " + step).set("");
        try {
            return evaluate(sc, model, snapshot().params(), trainer.precision(), layout.steps(), layout.endToken(), documents, sequences);
        } finally {
            label.restore();
        }
    }

    /**
     * As {@link #evaluate(JavaPairRDD, int)} for saved parameters (a published model): windows of
     * {@code steps} tokens, {@code endToken} the end-of-document id; its jobs run in the caller's job group.
     */
    public static Evaluation evaluate(JavaSparkContext sc, RecurrentLanguageModel m, ModelParameters parameters, Precision precision,
                                      int steps, int end, JavaPairRDD<Long, int[]> documents, int sequences) {
        if (sequences <= 0) throw new IllegalArgumentException("sequences must be positive, got " + sequences);
        Broadcast<ModelParameters> params = sc.broadcast(parameters);
        try {
            List<Evaluation> parts = documents.mapPartitions(it -> {
                List<int[]> docs = new ArrayList<>();
                List<Long> ids = new ArrayList<>();
                it.forEachRemaining(d -> {
                    ids.add(d._1());
                    docs.add(d._2());
                });
                if (docs.isEmpty()) return Collections.singletonList(new Evaluation(0, 0)).iterator();
                Integer[] order = new Integer[docs.size()];
                for (int i = 0; i < order.length; i++) order[i] = i;
                Arrays.sort(order, java.util.Comparator.comparingLong(ids::get));
                int s = Math.min(sequences, docs.size());
                DocumentStreams ds = new DocumentStreams(s, steps, k -> docs.get(order[(int) k]), end, 0, docs.size(), false);
                RecurrentState state = m.newState(precision, s);
                RecurrentLanguageModel.Workspace ws = m.newWorkspace(precision);
                double loss = 0;
                long tokens = 0;
                while (ds.hasNext()) {
                    var r = m.evaluate(params.value(), ds.next(), state, ws);
                    loss += r.taskLossSum();
                    tokens += r.tokens();
                }
                return Collections.singletonList(new Evaluation(loss, tokens)).iterator();
            }).collect();
            double loss = 0;
            long tokens = 0;
            for (Evaluation e : parts) {
                loss += e.lossSum();
                tokens += e.tokens();
            }
            return new Evaluation(loss, tokens);
        } finally {
            params.destroy(false);
        }
    }

    /** All parameters and optimiser state on the driver (gathers sharded experts). */
    public TrainingState snapshot() {
        if (experts == null) {
            return new TrainingState(new ModelParameters(shared.copy(), new Parameters[0]), sharedOptimiser.copy(),
                    new OptimiserState[0], step);
        }
        ExpertExchange.Experts g = experts.gather();
        Parameters[] p = new Parameters[g.params().length];
        OptimiserState[] o = new OptimiserState[p.length];
        for (int e = 0; e < p.length; e++) {
            p[e] = g.params()[e].copy();
            o[e] = g.states()[e].copy();
        }
        return new TrainingState(new ModelParameters(shared.copy(), p), sharedOptimiser.copy(), o, step);
    }

    private ParameterLayout expertLayout() {
        return model.moe() == null ? ParameterLayout.builder().build() : model.moe().expert().layout();
    }

    /**
     * Writes a checkpoint: parameters, optimiser state and step, and the cursors (every stream's
     * document, position and LSTM state, file {@value #CURSORS}); visible only once complete.
     */
    public CheckpointMeta checkpoint(CheckpointStore store, Map<String, String> provenance) throws IOException {
        long done = step;
        CheckpointMeta meta = CheckpointMeta.of(done, 0, done, trainer.precision(), model.numExperts(), experts == null ? 0 : config.expertShards(),
                model.sharedLayout(), expertLayout(), provenance);
        JobLabel label = new JobLabel(sc, "spark-moe-checkpoint-" + done, "spark-moe checkpoint at step " + done).set("");
        CheckpointStore.Pending pending = store.begin(done);
        try {
            pending.writeShared(shared, sharedOptimiser);
            if (experts != null) experts.writeTo(pending);
            writeCursors(new Path(pending.tmpDir(), CURSORS));
            pending.commit(meta);
            return meta;
        } catch (IOException | RuntimeException e) {
            try {
                pending.abort();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        } finally {
            label.restore();
        }
    }

    /**
     * A warm start: a trainer from {@code start} (a saved model's parameters, optimiser state and step)
     * on new documents, every stream at its first document with a zero LSTM state.
     */
    public static SparkSequenceTrainer warmStart(JavaSparkContext sc, RecurrentLanguageModel model, EngineConfig config,
                                                 JavaPairRDD<Long, int[]> documents, SequenceLayout layout, TrainingState start) {
        if (!start.params().shared().layout().equals(model.sharedLayout()) || start.params().experts().length != model.numExperts()) {
            throw new IllegalArgumentException("the warm-start parameters (" + start.params().experts().length + " experts) do not fit the"
                    + " model (" + model.numExperts() + " experts)");
        }
        return new SparkSequenceTrainer(sc, model, config, documents, layout, start, null, null);
    }

    /**
     * A trainer that continues from the latest checkpoint in {@code store} (parameters, optimiser state,
     * step and every sequence's position and LSTM state), or starts fresh when there is none. The
     * checkpoint must match the model, precision and layout (S and P).
     */
    public static SparkSequenceTrainer resume(JavaSparkContext sc, RecurrentLanguageModel model, EngineConfig config,
                                              JavaPairRDD<Long, int[]> documents, SequenceLayout layout, CheckpointStore store)
            throws IOException {
        java.util.Optional<CheckpointMeta> latest = store.latest();
        if (latest.isEmpty()) return new SparkSequenceTrainer(sc, model, config, documents, layout);
        CheckpointMeta meta = latest.get();
        String where = "checkpoint " + store.dir() + "/" + CheckpointStore.stepDirName(meta.step());
        if (meta.numExperts() != model.numExperts()) {
            throw new IllegalArgumentException(where + " has " + meta.numExperts() + " experts, the model has " + model.numExperts());
        }
        if (meta.precision() != config.trainer().precision()) {
            throw new IllegalArgumentException(where + " was written in " + meta.precision() + ", the run uses " + config.trainer().precision());
        }
        Path dir = new Path(store.dir(), CheckpointStore.stepDirName(meta.step()));
        SequenceCursor[] cursors = readCursors(new Path(dir, CURSORS), sc.hadoopConfiguration(), model, layout, config.trainer().precision());
        ParameterLayout expertLayout = model.moe() == null ? ParameterLayout.builder().build() : model.moe().expert().layout();
        boolean onExecutors = model.moe() != null && config.placement() == org.sparkmoe.engine.ExpertPlacement.SHARDED
                && meta.numExpertShards() == config.expertShards();
        TrainingState start;
        if (onExecutors) {
            CheckpointStore.SharedData sd = store.loadShared(meta);
            if (!sd.params().layout().equals(model.sharedLayout())) {
                throw new IllegalArgumentException(where + ": shared parameters " + sd.params().layout() + " do not match the model's "
                        + model.sharedLayout());
            }
            start = new TrainingState(new ModelParameters(sd.params(), new Parameters[0]), sd.state(), new OptimiserState[0], meta.step());
        } else {
            start = store.loadTrainingState(meta.step(), model.sharedLayout(), expertLayout);
        }
        LOG.info("resuming sequence training from {}", where);
        return new SparkSequenceTrainer(sc, model, config, documents, layout, start, cursors,
                onExecutors ? new CheckpointedExperts(store, meta) : null);
    }

    private void writeCursors(Path file) throws IOException {
        FileSystem fs = file.getFileSystem(sc.hadoopConfiguration());
        try (DataOutputStream out = fs.create(file, false)) {
            out.writeInt(CURSORS_MAGIC);
            out.writeInt(1);
            out.writeInt(layout.sequences());
            out.writeInt(layout.partitions());
            out.writeInt(model.dim());
            for (SequenceCursor c : cursors) {
                int n = c.documents().length;
                out.writeInt(n);
                for (int i = 0; i < n; i++) {
                    out.writeLong(c.documents()[i]);
                    out.writeInt(c.positions()[i]);
                }
                for (int l = 0; l < c.state().layers(); l++) {
                    writeMatrix(out, c.state().hidden(l));
                    writeMatrix(out, c.state().cell(l));
                }
            }
        }
    }

    private static void writeMatrix(DataOutputStream out, Matrix m) throws IOException {
        for (int i = 0, n = m.size(); i < n; i++) out.writeDouble(m.getFlat(i));
    }

    private static SequenceCursor[] readCursors(Path file, org.apache.hadoop.conf.Configuration conf, RecurrentLanguageModel model,
                                                SequenceLayout layout, Precision precision) throws IOException {
        FileSystem fs = file.getFileSystem(conf);
        if (!fs.exists(file)) {
            throw new IOException(file + " is missing: the checkpoint was not written by the sequence engine");
        }
        try (DataInputStream in = fs.open(file)) {
            if (in.readInt() != CURSORS_MAGIC) throw new IOException(file + " is not a sequence-cursor file");
            int version = in.readInt();
            if (version != 1) throw new IOException(file + " has format version " + version + ", this build reads version 1");
            int s = in.readInt(), p = in.readInt(), d = in.readInt();
            if (s != layout.sequences() || p != layout.partitions() || d != model.dim()) {
                throw new IllegalArgumentException(file + " holds S = " + s + " sequences on P = " + p + " partitions of width d = " + d
                        + "; the run has S = " + layout.sequences() + ", P = " + layout.partitions() + ", d = " + model.dim());
            }
            SequenceCursor[] cursors = new SequenceCursor[p];
            for (int q = 0; q < p; q++) {
                int n = in.readInt();
                if (n != layout.streams(q).length) throw new IOException(file + ": partition " + q + " has " + n + " streams, expected "
                        + layout.streams(q).length);
                long[] docs = new long[n];
                int[] pos = new int[n];
                for (int i = 0; i < n; i++) {
                    docs[i] = in.readLong();
                    pos[i] = in.readInt();
                }
                RecurrentState state = model.newState(precision, n);
                for (int l = 0; l < state.layers(); l++) {
                    readMatrix(in, state.hidden(l), file, q);
                    readMatrix(in, state.cell(l), file, q);
                }
                cursors[q] = new SequenceCursor(q, docs, pos, state);
            }
            return cursors;
        }
    }

    private static void readMatrix(DataInputStream in, Matrix m, Path file, int partition) throws IOException {
        for (int i = 0, n = m.size(); i < n; i++) {
            double v = in.readDouble();
            if (!Double.isFinite(v)) {
                throw new IOException(file + ": partition " + partition + " LSTM state element " + i + " is " + v);
            }
            m.setFlat(i, v);
        }
    }

    @Override
    public void close() {
        releaseStep();
        shuffles.releaseAll();
        shelves.unpersist(false);
        if (experts != null) experts.close();
        ExpertPool.release(run); // in local mode; elsewhere the executors drop the run's buffers when idle
    }
}
