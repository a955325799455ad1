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
 * each partition runs its whole forward and backward pass locally on its own rows. One Spark job:
 * <pre>
 *   gated partitions --every partition's balance statistics to every partition
 *                     (and, with sharded placement, every shard's experts to every partition)--&gt;
 *   local forward and backward (batch-global balance gradient summed in partition order)
 *       --per-partition expert gradients to their shards--&gt; gradients summed per expert, partitions in order
 * </pre>
 * Cheap in shuffles, but each expert runs on about k*B/(n*P) rows per partition and every partition
 * ships a gradient for every expert it used; shuffle routing wins for large n.
 */
final class LocalPipeline implements StepPipeline {
    private final ExpertPartitioner expertPartitioner;
    private final DataPartitioner dataPartitioner;

    LocalPipeline(ExpertPartitioner expertPartitioner, DataPartitioner dataPartitioner) {
        this.expertPartitioner = expertPartitioner;
        this.dataPartitioner = dataPartitioner;
    }

    @Override
    public Flow build(StepContext ctx, JavaRDD<PartitionStep> gated, int partitions, Broadcast<Parameters> shared,
                      ExpertStore experts, StageClock clock, List<JavaRDD<?>> persisted) {
        ExpertStore.LocalCopies copies = experts.localCopies(partitions);
        Broadcast<Parameters[]> all = copies.broadcast();
        MoENetwork net = ctx.network();
        JavaPairRDD<Integer, ShuffleBlock> toPartitions = gated.flatMapToPair(ps -> ps.statsForAll(partitions).iterator());
        if (copies.blocks() != null) toPartitions = toPartitions.union(copies.blocks());
        JavaRDD<Tuple2<PartitionResult, List<ShuffleBlock>>> local = ShufflePipeline.persist(gated.zipPartitions(
                Shuffles.partitionBy(toPartitions, dataPartitioner), (pit, sit) -> {
                    PartitionStep ps = pit.next();
                    long t0 = System.nanoTime();
                    List<ShuffleBlock> expertBlocks = new ArrayList<>();
                    PartitionStep.GlobalStats stats = PartitionStep.globalStats(net, partitions, ShufflePipeline.values(sit), expertBlocks);
                    double[] statsGradient = net.moe().balance(stats.balance()).statsGradient();
                    Parameters[] params = all != null ? all.value() : fromBlocks(net, expertBlocks);
                    Parameters[] eg = new Parameters[params.length];
                    int[] counts = ps.expertCounts();
                    for (int e = 0; e < eg.length; e++) if (counts[e] > 0) eg[e] = params[e].zerosLike();
                    ModelParameters grad = new ModelParameters(shared.value().zerosLike(), eg);
                    double loss = 0;
                    if (ps.batch.size() > 0) {
                        loss = net.forwardBackwardPart(new ModelParameters(shared.value(), params), ps.batch, ctx.noise(),
                                workspace(ctx, ps.partition), grad, stats.lossScale(), statsGradient);
                    }
                    List<ShuffleBlock> blocks = new ArrayList<>();
                    for (int e = 0; e < eg.length; e++) if (eg[e] != null) blocks.add(new ShuffleBlock(ps.partition, e, eg[e].flat()));
                    clock.experts(t0);
                    return Collections.singletonList(new Tuple2<>(new PartitionResult(ps.partition, grad.shared(), loss,
                            ps.batch.size(), ps.weightSum(), ps.stats, counts, 0), blocks)).iterator();
                }), "spark-moe local forward and backward", persisted);
        JavaRDD<ExpertGrads> grads = ShufflePipeline.persist(Shuffles.partitionBy(local
                .flatMapToPair(r -> r._2().stream().map(b -> new Tuple2<>(b.expert(), b)).iterator()), expertPartitioner)
                .mapPartitionsWithIndex((s, it) -> Collections.singletonList(sumByExpert(net, s, it)).iterator(), true),
                "spark-moe expert gradients", persisted);
        JavaRDD<PartitionResult> norms = grads.map(g -> PartitionResult.ofShard(partitions, g.shard(), g.sumOfSquares()));
        return new Flow(local.map(Tuple2::_1).union(norms), grads);
    }

    /**
     * The partition's scratch for this step: the one its previous step used on this executor (every
     * buffer is written before it is read, as in the reference trainer, which keeps one workspace
     * for all steps), else a new one; so a step allocates no activations.
     */
    private static MoENetwork.Workspace workspace(StepContext ctx, int partition) {
        if (ctx.run() == null) return ctx.network().newWorkspace(ctx.precision());
        MoENetwork.Workspace ws = ExpertPool.take(ctx.run(), partition, ExpertPool.Kind.WORKSPACE, ctx.step(), 1);
        if (ws == null) {
            ws = ctx.network().newWorkspace(ctx.precision());
            ExpertPool.put(ctx.run(), partition, ExpertPool.Kind.WORKSPACE, ctx.step(), ws);
        }
        return ws;
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

    /** Per-partition expert gradients summed per expert, partitions in order. */
    private static ExpertGrads sumByExpert(MoENetwork net, int shard, Iterator<Tuple2<Integer, ShuffleBlock>> it) {
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
