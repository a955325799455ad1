package org.sparkmoe.engine;

import java.util.Iterator;

import org.apache.spark.NarrowDependency;
import org.apache.spark.Partition;
import org.apache.spark.TaskContext;
import org.apache.spark.rdd.RDD;

import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;

/**
 * The training data in the contiguous groups of data partitions that one step task runs
 * ({@link ReductionTree#groups()}): partition g of this RDD yields, in partition order, one
 * {@link Slice} per data partition of group g, each reading that partition of the parent (a
 * {@link DataTap}) when it is consumed. A narrow dependency: the scheduler sees the parent's cached
 * blocks through it, and a group lost with an executor is recomputed from its data partitions.
 * One task per core instead of one per data partition halves a local-routing classifier step's tasks
 * in local[2] with 4 partitions, and with them the tasks' launch, deserialisation and result
 * payloads (BENCHMARKS.md, "Session-7 fit work").
 */
final class DataGroups<T> extends RDD<DataGroups.Slice<T>> {
    private static final long serialVersionUID = 1L;

    /** One data partition's rows, read from the parent when iterated (not serialisable: lives inside a task). */
    record Slice<T>(int partition, Iterator<T> rows) {
    }

    private final RDD<T> parent;

    @SuppressWarnings({"unchecked", "rawtypes"})
    static <T> ClassTag<Slice<T>> sliceTag() {
        return (ClassTag) scala.reflect.ClassTag$.MODULE$.apply(Slice.class);
    }
    private final int[] starts;

    /** @param starts group g holds data partitions starts[g] until starts[g + 1] (exclusive); starts[G] is the partition count */
    @SuppressWarnings({"unchecked", "rawtypes"})
    DataGroups(RDD<T> parent, int[] starts) {
        super(parent.context(), scala.collection.immutable.List$.MODULE$.<org.apache.spark.Dependency<?>>empty()
                .$colon$colon(new Contiguous(parent, starts)), (ClassTag) sliceTag());
        if (starts[starts.length - 1] != parent.getNumPartitions()) {
            throw new IllegalArgumentException("groups cover " + starts[starts.length - 1] + " partitions of " + parent.getNumPartitions());
        }
        this.parent = parent;
        this.starts = starts.clone();
    }

    @Override
    public Partition[] getPartitions() {
        Partition[] data = parent.partitions();
        Partition[] out = new Partition[starts.length - 1];
        for (int g = 0; g < out.length; g++) {
            out[g] = new Group(g, java.util.Arrays.copyOfRange(data, starts[g], starts[g + 1]));
        }
        return out;
    }

    @Override
    public scala.collection.Iterator<Slice<T>> compute(Partition split, TaskContext context) {
        Partition[] members = ((Group) split).members;
        Iterator<Slice<T>> it = new Iterator<>() {
            private int next;

            @Override
            public boolean hasNext() {
                return next < members.length;
            }

            @Override
            public Slice<T> next() {
                Partition p = members[next++];
                return new Slice<>(p.index(), CollectionConverters.asJava(parent.iterator(p, context)));
            }
        };
        return CollectionConverters.asScala(it);
    }

    /** A group: its data partitions' own partition objects, in order. */
    private record Group(int index, Partition[] members) implements Partition {
        @Override
        public int hashCode() {
            return index;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Group g && g.index == index;
        }
    }

    /** Group g depends on data partitions starts[g] until starts[g + 1]. */
    private static final class Contiguous<T> extends NarrowDependency<T> {
        private static final long serialVersionUID = 1L;
        private final int[] starts;

        Contiguous(RDD<T> rdd, int[] starts) {
            super(rdd);
            this.starts = starts.clone();
        }

        @Override
        public scala.collection.immutable.Seq<Object> getParents(int partitionId) {
            java.util.List<Object> l = new java.util.ArrayList<>();
            for (int p = starts[partitionId]; p < starts[partitionId + 1]; p++) l.add(p);
            return CollectionConverters.asScala(l).toList();
        }
    }
}
