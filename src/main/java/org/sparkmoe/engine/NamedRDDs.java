package org.sparkmoe.engine;

import java.io.Serializable;
import java.util.Iterator;

import org.apache.spark.Partition;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaPairRDD;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.rdd.RDD;
import org.apache.spark.rdd.ZippedPartitionsRDD2;

import scala.Tuple2;
import scala.jdk.javaapi.CollectionConverters;
import scala.reflect.ClassTag;
import scala.reflect.ClassTag$;

/**
 * The per-step RDDs of the local-routed step, built without Spark's closure cleaner.
 * {@code JavaRDD.mapPartitions}, {@code flatMapToPair} and {@code zipPartitions} wrap the function
 * in a Scala lambda, which {@code SparkContext.clean} parses with ASM from its class file (read
 * and inflated from the Spark jar) and serialises once to check it, on every call: a third of the
 * driver thread's CPU in a classifier step, spent before the job is submitted (BENCHMARKS.md,
 * "Session-8 fit work"). These RDDs hold the function as it is; a capture that is not serialisable
 * still fails, when the scheduler serialises the task.
 */
final class NamedRDDs {
    private NamedRDDs() {
    }

    /** A partition's output from its index and its parent's rows. */
    interface PartitionFunction<T, U> extends Serializable {
        Iterator<U> apply(int partition, Iterator<T> rows);
    }

    /** Two co-partitioned parents' rows of one partition to its output. */
    interface ZipFunction<A, B, U> extends Serializable {
        Iterator<U> apply(Iterator<A> left, Iterator<B> right);
    }

    /** {@code parent.mapPartitionsWithIndex(f, true)}. */
    static <T, U> JavaRDD<U> map(JavaRDD<T> parent, PartitionFunction<T, U> f) {
        return new JavaRDD<>(new Mapped<>(parent.rdd(), f, false), anyTag());
    }

    /**
     * {@code parent.barrier().mapPartitionsWithIndex(f, true)}: a barrier stage, whose tasks Spark
     * launches together and which may call {@link org.apache.spark.BarrierTaskContext}.
     */
    static <T, U> JavaRDD<U> barrier(JavaRDD<T> parent, PartitionFunction<T, U> f) {
        return new JavaRDD<>(new Mapped<>(parent.rdd(), f, true), anyTag());
    }

    /** {@code parent.flatMapToPair} per partition, with the partition's index. */
    static <T, K, V> JavaPairRDD<K, V> mapToPair(JavaRDD<T> parent, PartitionFunction<T, Tuple2<K, V>> f) {
        return new JavaPairRDD<>(new Mapped<>(parent.rdd(), f, false), anyTag(), anyTag());
    }

    /** {@code left.zipPartitions(right, f)}. */
    static <A, B, U> JavaRDD<U> zip(JavaRDD<A> left, JavaRDD<B> right, ZipFunction<A, B, U> f) {
        return new JavaRDD<>(new ZippedPartitionsRDD2<A, B, U>(left.context(), new Zip<>(f), left.rdd(), right.rdd(), false,
                anyTag(), anyTag(), anyTag()), anyTag());
    }

    @SuppressWarnings("unchecked")
    private static <T> ClassTag<T> anyTag() {
        return (ClassTag<T>) ClassTag$.MODULE$.AnyRef();
    }

    /** One-to-one on its parent's partitions (and partitioner, as {@code preservesPartitioning = true}). */
    private static final class Mapped<T, U> extends RDD<U> {
        private static final long serialVersionUID = 1L;
        private final PartitionFunction<T, U> f;
        private final scala.Option<org.apache.spark.Partitioner> partitioner;
        private final boolean barrier;

        Mapped(RDD<T> parent, PartitionFunction<T, U> f, boolean barrier) {
            super(parent, anyTag());
            this.f = f;
            this.partitioner = parent.partitioner();
            this.barrier = barrier;
        }

        @Override
        public boolean isBarrier() {
            return barrier || super.isBarrier();
        }

        @Override
        public scala.Option<org.apache.spark.Partitioner> partitioner() {
            return partitioner;
        }

        @Override
        public Partition[] getPartitions() {
            return firstParent(anyTag()).partitions();
        }

        @Override
        public scala.collection.Iterator<U> compute(Partition split, TaskContext context) {
            RDD<T> parent = firstParent(anyTag());
            return CollectionConverters.asScala(f.apply(split.index(), CollectionConverters.asJava(parent.iterator(split, context))));
        }
    }

    /** {@link ZipFunction} as the Scala function {@link ZippedPartitionsRDD2} calls. */
    private static final class Zip<A, B, U> extends scala.runtime.AbstractFunction2<scala.collection.Iterator<A>,
            scala.collection.Iterator<B>, scala.collection.Iterator<U>> implements Serializable {
        private static final long serialVersionUID = 1L;
        private final ZipFunction<A, B, U> f;

        Zip(ZipFunction<A, B, U> f) {
            this.f = f;
        }

        @Override
        public scala.collection.Iterator<U> apply(scala.collection.Iterator<A> a, scala.collection.Iterator<B> b) {
            return CollectionConverters.asScala(f.apply(CollectionConverters.asJava(a), CollectionConverters.asJava(b)));
        }
    }
}
