package org.sparkmoe.engine;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;

import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.storage.StorageLevel;
import org.sparkmoe.core.param.Parameters;

import scala.Tuple2;

/**
 * {@link RoutingMode#SHUFFLE}: rows travel to the experts, so each expert runs once on all of its
 * rows from all partitions (the paper's cure for the shrinking batch, section 3.1). One Spark job,
 * stages chained by four shuffles:
 * <pre>
 *   gated partitions --dispatch (one block per expert shard: its experts' rows, one segment each)--&gt; experts forward
 *       --outputs to their partitions, plus every partition's balance statistics to every partition--&gt;
 *   combine: y, loss, dL/dy, gating backward with the batch-global balance gradient
 *       --gate-weighted dL/dy to the experts--&gt; experts backward (parameter gradients stay on the shard)
 *       --dL/dx back to the partitions--&gt; input-layer backward: each partition's aggregation record,
 *       summed up the {@link ReductionTree} to one record per group of data partitions (one task per group)
 * </pre>
 * With a local master the last stage runs one task per group of contiguous data partitions
 * ({@link ReductionTree#groups()}, {@link DataGroups}), each finishing its partitions one after the other
 * and summing their records to the group's node of the tree, so the shared gradient (the gate's 2·d·n
 * weights: 1 MB at d = 512, n = 256) leaves the executors once per group instead of once per data
 * partition: a task result is copied about six times between the executor's serializer and the
 * driver's sum. On a cluster a group's partitions may have combined on different executors, and a
 * cached combine (about 50 MB at the paper shape) read from another executor costs far more than a
 * result, so there each data partition finishes in its own task, where its combine is cached; the
 * driver sums the records in the same tree order either way (over {@code SparkMoETrainer.DIRECT_SUM_LIMIT}
 * partitions their records first meet in their tree groups through one more shuffle, so that the driver
 * does not receive a shared gradient per partition).
 * The expert shards add one aggregation record each: the sum of squares of their gradients, taken in
 * the experts' backward pass while each expert's gradient is still in cache ({@link ExpertGrads}).
 */
final class ShufflePipeline implements StepPipeline {
    private final ExpertPartitioner expertPartitioner;
    private final DataPartitioner dataPartitioner;
    /** The order in which the data partitions' records are summed, and the last stage's groups when {@link #grouped}. */
    private final ReductionTree tree;
    /** Whether the last stage runs one task per group of the tree (local master) or per data partition. */
    private final boolean grouped;

    ShufflePipeline(ExpertPartitioner expertPartitioner, DataPartitioner dataPartitioner, ReductionTree tree, boolean grouped) {
        this.expertPartitioner = expertPartitioner;
        this.dataPartitioner = dataPartitioner;
        this.tree = tree;
        this.grouped = grouped;
    }

    @Override
    public Flow build(StepContext ctx, JavaRDD<PartitionStep> gated, int partitions, StepBroadcast shared,
                      ExpertStore experts, StageClock clock, List<JavaRDD<?>> persisted) {
        ExpertPartitioner shardsOf = expertPartitioner; // the closure must not capture this pipeline
        JavaPairRDD<Integer, ShuffleBlock> dispatched = Shuffles.partitionBy(gated.flatMapToPair(ps -> {
            long t0 = System.nanoTime();
            List<Tuple2<Integer, ShuffleBlock>> blocks = ps.dispatch(ctx, shardsOf);
            clock.dispatch(t0);
            return blocks.iterator();
        }), expertPartitioner);

        JavaRDD<ShardStep> shards = persist(experts.forward(ctx, dispatched, clock),
                "spark-moe experts forward", persisted);

        boolean bf16 = ctx.payload() == ShufflePayload.BF16;
        JavaPairRDD<Integer, ShuffleBlock> outputs = Shuffles.partitionBy(shards.flatMapToPair(ss -> ss.outputBlocks(bf16).iterator())
                .union(gated.flatMapToPair(ps -> ps.statsForAll(partitions).iterator())), dataPartitioner);
        JavaRDD<PartitionStep.Combined> combined = persist(gated.zipPartitions(outputs, (pit, bit) -> {
            long t0 = System.nanoTime();
            PartitionStep.Combined c = pit.next().combine(ctx, shared.value(), partitions, values(bit));
            clock.combine(t0);
            return Collections.singletonList(c).iterator();
        }), "spark-moe combine", persisted);

        JavaPairRDD<Integer, ShuffleBlock> backward = Shuffles.partitionBy(combined
                .flatMapToPair(c -> c.backward.stream().map(b -> new Tuple2<>(b.firstExpert(), b)).iterator()), expertPartitioner);
        JavaRDD<Tuple2<ExpertGrads, List<Tuple2<Integer, ShuffleBlock>>>> shardBack = persist(shards.zipPartitions(backward, (sit, bit) -> {
            long t0 = System.nanoTime();
            Tuple2<ExpertGrads, List<Tuple2<Integer, ShuffleBlock>>> r = sit.next().backward(ctx, bit);
            clock.experts(t0);
            return Collections.singletonList(r).iterator();
        }), "spark-moe experts backward", persisted);

        JavaPairRDD<Integer, ShuffleBlock> inputGrads = Shuffles.partitionBy(shardBack.flatMapToPair(r -> r._2().iterator()), dataPartitioner);
        JavaRDD<PartitionResult> finished = combined.zipPartitions(inputGrads, (cit, bit) -> {
            long t0 = System.nanoTime();
            PartitionResult r = cit.next().finish(ctx, shared.value(), values(bit));
            clock.combine(t0);
            return Collections.singletonList(r).iterator();
        });
        ReductionTree sums = tree;
        JavaRDD<PartitionResult> results;
        if (grouped) {
            results = new JavaRDD<>(new DataGroups<>(finished.rdd(), sums.starts()), DataGroups.<PartitionResult>sliceTag())
                    .mapPartitionsWithIndex((g, it) -> {
                        List<PartitionResult> records = new ArrayList<>();
                        while (it.hasNext()) it.next().rows().forEachRemaining(records::add);
                        return Collections.singletonList(sums.sumGroup(g, records)).iterator();
                    }, true);
        } else if (partitions <= SparkMoETrainer.DIRECT_SUM_LIMIT) {
            results = finished;
        } else {
            // Many partitions on a cluster: the records meet in their tree groups through a shuffle, so the
            // driver receives one shared gradient per group, not one per partition. Every node of the tree is
            // the same sum at any depth, so this equals the local master's grouped sums bit for bit.
            results = Shuffles.partitionBy(finished.mapToPair(r -> new Tuple2<>(sums.groupOf(r.partition()), r)),
                            new DataPartitioner(sums.groups()))
                    .mapPartitionsWithIndex((g, it) -> {
                        List<PartitionResult> records = new ArrayList<>();
                        it.forEachRemaining(x -> records.add(x._2()));
                        return Collections.singletonList(sums.sumGroup(g, records)).iterator();
                    }, true);
        }
        JavaRDD<ExpertGrads> grads = shardBack.map(Tuple2::_1);
        JavaRDD<PartitionResult> norms = grads.map(g -> PartitionResult.ofShard(partitions, g.shard(), g.sumOfSquares()));
        return new Flow(results.union(norms), grads, tree);
    }

    static <T> JavaRDD<T> persist(JavaRDD<T> rdd, String name, List<JavaRDD<?>> persisted) {
        rdd.setName(name).persist(StorageLevel.MEMORY_ONLY());
        persisted.add(rdd);
        return rdd;
    }

    static Iterator<ShuffleBlock> values(Iterator<Tuple2<Integer, ShuffleBlock>> it) {
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
}
