package org.sparkmoe.engine;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

import org.apache.spark.Partition;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.rdd.RDD;
import org.apache.spark.storage.BlockId;
import org.apache.spark.storage.BlockManagerId;
import org.apache.spark.storage.RDDBlockId;

import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;

/**
 * The training data's cached blocks in {@link DataGroups}' groups, for the one-stage (barrier) step
 * ({@link LocalPipeline#fused}), with no dependency on the data. Spark refuses a barrier stage
 * that holds an RDD whose partition count differs from the stage's task count
 * ({@code DAGScheduler.checkBarrierStageWithRDDChainPattern}), which DataGroups' narrow dependency on
 * the P data partitions is. So this reads each member's cached block by id from the block manager
 * (local or remote), and a block that is not there (lost with an executor) fails the task with
 * {@link #MISSING}: it does not read through the data's lineage as {@link DataTap} does, because
 * lineage the scheduler cannot see could need shuffle output it does not know to recompute. Spark
 * does not retry a failed barrier result stage, so the job fails; the engine then runs that step
 * again in two stages over {@link DataGroups}, which recompute and cache the block
 * ({@link SparkMoETrainer#trainStep}).
 */
final class CachedGroups<T> extends RDD<DataGroups.Slice<T>> {
    private static final long serialVersionUID = 1L;
    /** In a task failure's message when a data block was not cached. */
    static final String MISSING = "spark-moe: cached data block missing";

    private final int dataId;
    private final int[] starts;
    private final ClassTag<T> tag;

    /** @param data the persisted training data, cached already; @param starts as {@link DataGroups#DataGroups} */
    @SuppressWarnings({"unchecked", "rawtypes"})
    CachedGroups(RDD<T> data, int[] starts) {
        super(data.context(), scala.collection.immutable.List$.MODULE$.<org.apache.spark.Dependency<?>>empty(),
                (ClassTag) DataGroups.sliceTag());
        this.dataId = data.id();
        this.starts = starts.clone();
        this.tag = data.elementClassTag();
    }

    @Override
    public Partition[] getPartitions() {
        Partition[] out = new Partition[starts.length - 1];
        for (int g = 0; g < out.length; g++) out[g] = new Group(g);
        return out;
    }

    @Override
    @SuppressWarnings("unchecked")
    public scala.collection.Iterator<DataGroups.Slice<T>> compute(Partition split, TaskContext context) {
        int g = split.index();
        List<DataGroups.Slice<T>> slices = new ArrayList<>();
        for (int p = starts[g]; p < starts[g + 1]; p++) {
            scala.Option<org.apache.spark.storage.BlockResult> cached = SparkEnv.get().blockManager().get(new RDDBlockId(dataId, p), tag);
            if (cached.isEmpty()) throw new IllegalStateException(MISSING + ": rdd_" + dataId + "_" + p);
            slices.add(new DataGroups.Slice<>(p, CollectionConverters.asJava((scala.collection.Iterator<T>) cached.get().data())));
        }
        return CollectionConverters.asScala(slices.iterator());
    }

    /** Where the group's first data block is cached (what a narrow dependency would give), outside local mode. */
    @Override
    public scala.collection.immutable.Seq<String> getPreferredLocations(Partition split) {
        List<String> hosts = new ArrayList<>();
        if (!context().isLocal()) {
            BlockId[] ids = {new RDDBlockId(dataId, starts[split.index()])};
            for (scala.collection.Seq<BlockManagerId> at : CollectionConverters.asJava(SparkEnv.get().blockManager().master().getLocations(ids))) {
                for (BlockManagerId b : CollectionConverters.asJava(at)) hosts.add("executor_" + b.host() + "_" + b.executorId());
            }
        }
        return CollectionConverters.asScala(hosts).toList();
    }

    private record Group(int index) implements Partition {
    }
}
