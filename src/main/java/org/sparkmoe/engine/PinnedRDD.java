package org.sparkmoe.engine;

import org.apache.spark.Partition;
import org.apache.spark.TaskContext;
import org.apache.spark.rdd.RDD;

import scala.collection.immutable.Seq;
import scala.reflect.ClassTag;

/**
 * Its parent's partitions unchanged, with a preferred executor per partition: how
 * {@link ShardedExperts} keeps a shard's forward, backward and update on the executor that caches
 * its state. Spark's {@code zipPartitions} takes its preferred locations from its parents'
 * {@code preferredLocations}, not from the block manager, and a shuffle's are hosts, so on one
 * host (or with both parents on one) the executor was left to chance: the state crossed JVMs each
 * step and the step's cached blocks landed next to the other shard's state. A location is a
 * preference only: with the executor gone or busy past {@code spark.locality.wait} the task runs
 * elsewhere and recomputes from lineage as before.
 */
final class PinnedRDD<T> extends RDD<T> {
    private static final long serialVersionUID = 1L;
    private final String[] locations;
    private final ClassTag<T> tag;

    /** {@code locations[i]}: partition i's preferred location ({@code executor_<host>_<id>}), or null for none. */
    PinnedRDD(RDD<T> parent, String[] locations) {
        super(parent, parent.elementClassTag());
        this.locations = locations.clone();
        this.tag = parent.elementClassTag();
    }

    @Override
    public scala.collection.Iterator<T> compute(Partition split, TaskContext context) {
        return firstParent(tag).iterator(split, context);
    }

    @Override
    public Partition[] getPartitions() {
        return firstParent(tag).partitions();
    }

    @Override
    public Seq<String> getPreferredLocations(Partition split) {
        String loc = split.index() < locations.length ? locations[split.index()] : null;
        return loc == null ? scala.collection.immutable.List$.MODULE$.empty()
                : scala.collection.immutable.List$.MODULE$.<String>empty().$colon$colon(loc);
    }
}
