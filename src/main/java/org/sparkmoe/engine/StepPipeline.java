package org.sparkmoe.engine;

import java.util.List;

import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.broadcast.Broadcast;
import org.sparkmoe.core.param.Parameters;

/**
 * The data flow of one training step after the gate, for one {@link RoutingMode}: builds (lazily,
 * without running anything) the RDDs whose single job computes the step. {@link ShufflePipeline}
 * moves rows to the experts; {@link LocalPipeline} moves the experts to the rows.
 */
interface StepPipeline {

    /**
     * @param gated       the data partitions after the gate (persisted; {@link PartitionStep})
     * @param partitions  the number of data partitions P
     * @param shared      the step's broadcast of the shared parameters (and, with driver placement, the experts)
     * @param experts     where the experts live
     * @param persisted   collects the step's persisted RDDs, unpersisted after the step
     */
    Flow build(StepContext ctx, JavaRDD<PartitionStep> gated, int partitions, StepBroadcast shared,
               ExpertStore experts, StageClock clock, List<JavaRDD<?>> persisted);

    /**
     * @param aggregation one record per data partition (index p) and per expert shard (index P + s),
     *                    to be summed in index order: the step's first job collects it
     * @param expertGrads one element per expert shard (partition s = shard s), persisted: the update reads it;
     *                    null when the aggregation records carry the expert gradients themselves
     *                    ({@link PartitionResult#expertGrads()}: local routing, experts on the driver)
     * @param tree        when not null, the aggregation has one record per group of data partitions,
     *                    each summed up to its node of this tree, and the driver sums them to the root
     */
    record Flow(JavaRDD<PartitionResult> aggregation, JavaRDD<ExpertGrads> expertGrads, ReductionTree tree) {
        /** A flow whose records are summed in index order. */
        Flow(JavaRDD<PartitionResult> aggregation, JavaRDD<ExpertGrads> expertGrads) {
            this(aggregation, expertGrads, null);
        }
    }
}
