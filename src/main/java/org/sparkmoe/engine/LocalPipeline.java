package org.sparkmoe.engine;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import org.sparkmoe.core.network.ModelParameters;
import org.sparkmoe.core.network.MoENetwork;
import org.sparkmoe.core.param.Parameters;

import scala.Tuple2;

/**
 * {@link RoutingMode#LOCAL}: the experts travel to the rows (every partition gets all of them), and
 * each partition runs its whole forward and backward pass locally on its own rows. One Spark job.
 * With the experts on the driver ({@link DriverExperts}: one broadcast), two stages of one task per
 * core and one tiny shuffle; each task runs a group of contiguous data partitions
 * ({@link ReductionTree#groups()}, {@link DataGroups}), one after the other:
 * <pre>
 *   gate: for each data partition of the group, input layer and gate into its pooled workspace
 *       --every partition's balance statistics to every group--&gt;
 *   local forward and backward from the gates already computed (batch-global balance gradient summed
 *   in partition order), each partition into its own pooled gradient buffers, summed up the
 *   ReductionTree to one aggregation record per group, carrying the group's expert gradients
 *       --collect--&gt; the driver sums the groups' records up the tree and updates, with no second job
 * </pre>
 * When every group can run at once (one task per core), the two stages are one barrier stage whose
 * tasks exchange the statistics with {@code allGather} instead of the shuffle ({@link #fused}); the
 * same floats in the same order.
 * With sharded experts, every shard's experts travel to every partition in the statistics shuffle,
 * and the per-partition expert gradients go back to their shards in a second shuffle, where they are
 * summed per expert, partitions in order, for the shards' update.
 * Cheap in shuffles, but each expert runs on about k*B/(n*P) rows per partition and every partition
 * ships a gradient for every expert it used; shuffle routing wins for large n
 * ({@link RoutingMode#resolve}).
 */
final class LocalPipeline implements StepPipeline {
    /** The name of the RDD of the groups' forward and backward passes (driver-held experts), as the UI shows it. */
    static final String GROUPS_STAGE = "spark-moe local forward and backward (groups)";
    private final ExpertPartitioner expertPartitioner;
    private final DataPartitioner dataPartitioner;
    /** With the experts on the driver: how data partitions are grouped into tasks and summed (else null). */
    private final ReductionTree tree;

    /**
     * @param tree with driver-held experts, the groups of data partitions the step's tasks run
     *             ({@code gated} then has one partition per group, its data partitions' steps in order), else null
     */
    LocalPipeline(ExpertPartitioner expertPartitioner, DataPartitioner dataPartitioner, ReductionTree tree) {
        this.expertPartitioner = expertPartitioner;
        this.dataPartitioner = dataPartitioner;
        this.tree = tree;
    }

    @Override
    public Flow build(StepContext ctx, JavaRDD<PartitionStep> gated, int partitions, StepBroadcast shared,
                      ExpertStore experts, StageClock clock, List<JavaRDD<?>> persisted) {
        ExpertStore.LocalCopies copies = experts.localCopies(partitions);
        MoENetwork net = ctx.network();
        // experts on the driver: they are in the step's broadcast, after the shared group
        if (copies.blocks() == null) return grouped(ctx, gated, partitions, shared, clock);
        JavaPairRDD<Integer, ShuffleBlock> toPartitions = gated.flatMapToPair(ps -> ps.statsForAll(partitions).iterator())
                .union(copies.blocks());
        JavaRDD<Tuple2<PartitionResult, List<ShuffleBlock>>> local = gated.zipPartitions(
                Shuffles.partitionBy(toPartitions, dataPartitioner), (pit, sit) -> {
                    PartitionStep ps = pit.next();
                    long t0 = System.nanoTime();
                    List<ShuffleBlock> expertBlocks = new ArrayList<>();
                    PartitionStep.GlobalStats stats = PartitionStep.globalStats(net, partitions, ShufflePipeline.values(sit), expertBlocks);
                    double[] statsGradient = net.moe().balance(stats.balance()).statsGradient();
                    Parameters[] params = fromBlocks(net, expertBlocks);
                    int[] counts = ps.expertCounts();
                    ModelParameters grad = gradients(ctx, ps.partition, shared.value(), params, counts);
                    double loss = forwardBackward(ctx, ps, shared.value(), params, grad, stats, statsGradient);
                    Parameters[] eg = grad.experts();
                    List<ShuffleBlock> blocks = new ArrayList<>();
                    for (int e = 0; e < eg.length; e++) if (eg[e] != null) blocks.add(new ShuffleBlock(ps.partition, e, eg[e].flat()));
                    clock.experts(t0);
                    return Collections.singletonList(new Tuple2<>(new PartitionResult(ps.partition, grad.shared(), loss,
                            ps.batch.size(), ps.weightSum(), ps.stats, counts, 0, null), blocks)).iterator();
                });
        persist(local, "spark-moe local forward and backward", persisted);
        JavaRDD<ExpertGrads> grads = ShufflePipeline.persist(Shuffles.partitionBy(local
                .flatMapToPair(r -> r._2().stream().map(b -> new Tuple2<>(b.expert(), b)).iterator()), expertPartitioner)
                .mapPartitionsWithIndex((s, it) -> Collections.singletonList(sumByExpert(net, s, it)).iterator(), true),
                "spark-moe expert gradients", persisted);
        JavaRDD<PartitionResult> norms = grads.map(g -> PartitionResult.ofShard(partitions, g.shard(), g.sumOfSquares()));
        return new Flow(local.map(Tuple2::_1).union(norms), grads);
    }

    /**
     * Driver-held experts: one task per group of data partitions ({@link ReductionTree}), in both
     * stages. A group's task runs its partitions' forward and backward passes one after the other,
     * each into its own (pooled) gradient buffers, and sums them up the tree to one aggregation record,
     * so the expert gradients leave the task once; the driver sums the groups' records to the root.
     */
    private Flow grouped(StepContext ctx, JavaRDD<PartitionStep> gated, int partitions, StepBroadcast shared, StageClock clock) {
        ReductionTree t = tree;
        int groups = t.groups();
        JavaPairRDD<Integer, ShuffleBlock> stats = NamedRDDs.mapToPair(gated, (g, it) -> {
            List<Tuple2<Integer, ShuffleBlock>> out = new ArrayList<>();
            it.forEachRemaining(ps -> out.addAll(ps.statsForAll(groups)));
            return out.iterator();
        });
        JavaRDD<PartitionResult> records = NamedRDDs.zip(gated, Shuffles.partitionBy(stats, new DataPartitioner(groups)).rdd().toJavaRDD(), (pit, sit) -> {
            long t0 = System.nanoTime();
            PartitionResult r = runGroup(ctx, t, partitions, shared, pit, ShufflePipeline.values(sit));
            clock.experts(t0);
            return Collections.singletonList(r).iterator();
        }).setName(GROUPS_STAGE);
        return new Flow(records, null, t);
    }

    /**
     * {@link #grouped} in one stage, for when every group can run at once (one task per core):
     * <pre>
     *   a barrier stage, one task per group: gate its data partitions into their pooled workspaces;
     *       allGather the groups' balance statistics (BarrierTaskContext: each task gets every group's,
     *       the stage's tasks all running at the same time);
     *   then as the second stage of {@link #grouped}: batch-global statistics summed in partition
     *   order, forward and backward, the group's record up the ReductionTree
     *       --collect--&gt; the driver sums the groups' records up the tree and updates
     * </pre>
     * The same floats in the same order as {@link #grouped}, so a step gives the same bits either way,
     * without the second stage's task binary, launches, the statistics shuffle and the persisted gate.
     * A barrier stage needs as many free slots as groups and fails over as a whole, and Spark refuses it
     * under dynamic allocation; {@link SparkMoETrainer} falls back to {@link #grouped} then.
     *
     * @param groups the data's cached blocks in the tree's groups ({@link CachedGroups})
     */
    Flow fused(StepContext ctx, JavaRDD<DataGroups.Slice<org.sparkmoe.core.network.RowBlock>> groups, int partitions,
               StepBroadcast shared, StageClock clock) {
        ReductionTree t = tree;
        JavaRDD<PartitionResult> records = NamedRDDs.barrier(groups, (g, it) -> {
            long t0 = System.nanoTime();
            List<PartitionStep> steps = gateGroup(ctx, shared, it);
            clock.gate(t0);
            String[] all = allGather(PartitionStep.encodeStats(steps));
            long t1 = System.nanoTime();
            PartitionResult r = runGroup(ctx, t, partitions, shared, steps.iterator(), PartitionStep.decodeStats(all));
            clock.experts(t1);
            return Collections.singletonList(r).iterator();
        }).setName(GROUPS_STAGE);
        return new Flow(records, null, t);
    }

    /**
     * {@code BarrierTaskContext.allGather}, woken promptly. Spark's task waits for the coordinator's
     * answer in a loop of {@code Thread.sleep(1000)} (BarrierTaskContext.runBarrier, Spark 3-4), so
     * the task that arrives first waits until the next whole second: a 130 ms step took 1,020
     * (BENCHMARKS.md, "Session-8 fit work"). An interrupt ends the sleep, after which the loop checks
     * whether the answer is in (a task Spark has not killed goes on waiting). So a helper thread
     * interrupts the caller while it sleeps (TIMED_WAITING: the only timed wait in that loop, so no
     * other blocking call sees an interrupt), every 200 us, until allGather returns; the flag is
     * cleared before this returns.
     */
    private static String[] allGather(String message) {
        org.apache.spark.BarrierTaskContext context = org.apache.spark.BarrierTaskContext.get();
        Thread caller = Thread.currentThread();
        java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
        Thread waker = new Thread(() -> {
            while (!done.get()) {
                java.util.concurrent.locks.LockSupport.parkNanos(200_000);
                if (!done.get() && caller.getState() == Thread.State.TIMED_WAITING) caller.interrupt();
            }
        }, "spark-moe allGather waker");
        waker.setDaemon(true);
        waker.start();
        try {
            return context.allGather(message);
        } finally {
            done.set(true);
            boolean joined = false;
            while (!joined) {
                try {
                    waker.join();
                    joined = true;
                } catch (InterruptedException e) {
                    // the waker's last interrupt
                }
            }
            Thread.interrupted();
        }
    }

    /** The gate of a group's data partitions, in order, each into its pooled workspace. */
    static List<PartitionStep> gateGroup(StepContext ctx, StepBroadcast shared,
                                         Iterator<DataGroups.Slice<org.sparkmoe.core.network.RowBlock>> slices) {
        List<PartitionStep> steps = new ArrayList<>();
        while (slices.hasNext()) {
            DataGroups.Slice<org.sparkmoe.core.network.RowBlock> s = slices.next();
            steps.add(PartitionStep.gateLocal(ctx, shared.value(), s.partition(), s.rows()));
        }
        return steps;
    }

    /**
     * A group's forward and backward passes from its gated partitions and every data partition's
     * statistics blocks, summed up the tree to the group's record.
     */
    private static PartitionResult runGroup(StepContext ctx, ReductionTree t, int partitions, StepBroadcast shared,
                                            Iterator<PartitionStep> steps, Iterator<ShuffleBlock> stats) {
        MoENetwork net = ctx.network();
        List<ShuffleBlock> none = new ArrayList<>();
        PartitionStep.GlobalStats global = PartitionStep.globalStats(net, partitions, stats, none);
        if (!none.isEmpty()) throw new IllegalStateException(none.size() + " unexpected blocks in the statistics exchange");
        double[] statsGradient = net.moe().balance(global.balance()).statsGradient();
        Parameters[] params = shared.experts();
        List<PartitionResult> parts = new ArrayList<>();
        int group = -1;
        while (steps.hasNext()) {
            PartitionStep ps = steps.next();
            if (group < 0) group = t.groupOf(ps.partition);
            int[] counts = ps.expertCounts();
            ModelParameters grad = gradients(ctx, ps.partition, shared.value(), params, counts);
            double loss = forwardBackward(ctx, ps, shared.value(), params, grad, global, statsGradient);
            parts.add(new PartitionResult(ps.partition, grad.shared(), loss, ps.batch.size(), ps.weightSum(), ps.stats, counts, 0,
                    grad.experts()));
        }
        return t.sumGroup(group, parts);
    }

    /**
     * The partition's forward and backward pass into {@code grad}, from the gate its gate stage computed
     * when its workspace is on this executor; returns the loss sum (0 for an empty batch).
     */
    private static double forwardBackward(StepContext ctx, PartitionStep ps, Parameters shared, Parameters[] params,
                                          ModelParameters grad, PartitionStep.GlobalStats global, double[] statsGradient) {
        if (ps.batch.size() == 0) return 0;
        MoENetwork net = ctx.network();
        ModelParameters p = new ModelParameters(shared, params);
        return ps.workspace != null
                ? net.forwardBackwardGated(p, ps.batch, ps.workspace, grad, global.lossScale(), statsGradient)
                // the gated block came from another executor (without its workspace): gate again, identically
                : net.forwardBackwardPart(p, ps.batch, ctx.noise(), workspace(ctx, ps.partition), grad, global.lossScale(), statsGradient);
    }

    private static <T> void persist(JavaRDD<T> rdd, String name, List<JavaRDD<?>> persisted) {
        ShufflePipeline.persist(rdd, name, persisted);
    }

    /**
     * The partition's scratch for this step: the one its previous step used on this executor (every
     * buffer is written before it is read, as in the reference trainer, which keeps one workspace
     * for all steps), else a new one; so a step allocates no activations. The gate of the step
     * ({@link PartitionStep#gateLocal}) and its forward and backward pass take the same one.
     */
    static MoENetwork.Workspace workspace(StepContext ctx, int partition) {
        if (ctx.run() == null) return ctx.network().newWorkspace(ctx.precision());
        MoENetwork.Workspace ws = ExpertPool.take(ctx.run(), partition, ExpertPool.Kind.WORKSPACE, ctx.step(), 1);
        if (ws == null) {
            ws = ctx.network().newWorkspace(ctx.precision());
            ExpertPool.put(ctx.run(), partition, ExpertPool.Kind.WORKSPACE, ctx.step(), ws);
        }
        return ws;
    }

    /**
     * Zeroed gradient buffers for the partition's step: the shared group, and each expert it routed
     * rows to (null for the others, which get no gradient). Taken from the executor's pool when an
     * earlier step left a set there, since the previous step's records are serialised and its
     * persisted RDDs dropped before this step runs; so a step allocates no gradient buffers.
     */
    private static ModelParameters gradients(StepContext ctx, int partition, Parameters shared, Parameters[] params, int[] counts) {
        Parameters[] pool = null;
        if (ctx.run() != null) pool = ExpertPool.take(ctx.run(), partition, ExpertPool.Kind.LOCAL_GRADIENTS, ctx.step(), 1);
        if (pool == null || pool.length != params.length + 1 || pool[0].precision() != shared.precision()) {
            pool = new Parameters[params.length + 1];
            if (ctx.run() != null) ExpertPool.put(ctx.run(), partition, ExpertPool.Kind.LOCAL_GRADIENTS, ctx.step(), pool);
        }
        if (pool[0] == null) pool[0] = shared.zerosLike();
        else pool[0].flat().fill(0);
        Parameters[] eg = new Parameters[params.length];
        for (int e = 0; e < eg.length; e++) {
            if (counts[e] == 0) continue;
            if (pool[e + 1] == null) pool[e + 1] = params[e].zerosLike();
            else pool[e + 1].flat().fill(0);
            eg[e] = pool[e + 1];
        }
        return new ModelParameters(pool[0], eg);
    }

    /** Every expert's parameters from the blocks the shards sent (one per expert). */
    private static Parameters[] fromBlocks(MoENetwork net, List<ShuffleBlock> blocks) {
        Parameters[] p = new Parameters[net.numExperts()];
        for (ShuffleBlock b : blocks) {
            if (b.expert() < 0 || b.expert() >= p.length || p[b.expert()] != null) {
                throw new IllegalStateException("unexpected expert block " + b.expert() + " from shard " + b.partition());
            }
            p[b.expert()] = Parameters.wrap(net.moe().expert().layout(), b.rows());
        }
        for (int e = 0; e < p.length; e++) {
            if (p[e] == null) throw new IllegalStateException("no parameters arrived for expert " + e);
        }
        return p;
    }

    /** Per-partition expert gradients summed per expert, partitions in order (also the recurrent LM's local routing, {@link ExpertExchange}). */
    static ExpertGrads sumByExpert(MoENetwork net, int shard, Iterator<Tuple2<Integer, ShuffleBlock>> it) {
        List<ShuffleBlock> all = new ArrayList<>();
        it.forEachRemaining(t -> all.add(t._2()));
        all.sort(Comparator.comparingInt(ShuffleBlock::expert).thenComparingInt(ShuffleBlock::partition));
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
}
